"""Keep a WorkerHeartbeat row fresh while a Celery worker runs."""

import logging
import threading

from celery.signals import worker_ready, worker_shutdown
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)
BEAT_SECONDS = 15
_stop = threading.Event()


def _queues(sender) -> str:
    try:
        return ",".join(sorted(q.name for q in sender.app.amqp.queues.consume_from.values()))
    except Exception:  # noqa: BLE001  (a name for humans; never worth failing the worker)
        return ""


@worker_ready.connect
def _start_heartbeat(sender, **kwargs) -> None:
    from .services import worker_heartbeat_beat

    hostname = sender.hostname
    queues = _queues(sender)
    if settings.GRADER_BACKEND == "docker":
        try:
            from grader.sandbox.docker import reap_orphans

            removed = reap_orphans()
            if removed:
                logger.warning("removed %d sandbox containers left by a dead worker", len(removed))
        except Exception:  # noqa: BLE001  (the backend reports an unusable engine per job)
            logger.exception("could not look for orphaned sandbox containers")
    if settings.GRADER_BACKEND == "process":
        from grader.errors import PlatformError
        from grader.sandbox.process import ProcessBackend

        try:  # probe before the first entry runs, so no entry can interfere with the probe
            isolation = ProcessBackend().isolation
            logger.warning(
                "Grading with the PROCESS sandbox: %s. GRADER_BACKEND=docker grades in the "
                "sandbox image instead, one GPU per job.",
                isolation,
            )
        except PlatformError as error:
            logger.error("The process sandbox refuses to grade here: %s", error)

    def beat() -> None:
        started = True
        while not _stop.is_set():
            try:
                worker_heartbeat_beat(hostname=hostname, queues=queues, started=started)
                started = False
            except Exception:  # noqa: BLE001  (a missed beat must not kill the worker)
                logger.exception("worker heartbeat failed")
            finally:
                close_old_connections()
            _stop.wait(BEAT_SECONDS)

    threading.Thread(target=beat, name="worker-heartbeat", daemon=True).start()


@worker_shutdown.connect
def _stop_heartbeat(sender, **kwargs) -> None:
    from .services import worker_heartbeat_beat

    _stop.set()
    try:
        worker_heartbeat_beat(hostname=sender.hostname, queues="", stopped=True)
    except Exception:  # noqa: BLE001
        logger.exception("could not record worker shutdown")
