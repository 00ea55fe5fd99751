import os

from django.conf import settings
from django.db import connection
from django.db.models import F
from django.utils import timezone

from .models import WorkerHeartbeat

SITE_QUEUE = settings.CELERY_TASK_DEFAULT_QUEUE


def sandbox_backend_status() -> dict:
    backend = settings.GRADER_BACKEND
    if backend == "process":
        from grader.errors import PlatformError
        from grader.sandbox.process import ProcessBackend

        try:
            # Probed once per process, by starting a real sandbox; refused, it says why.
            sandbox = ProcessBackend()
        except PlatformError as error:
            return {"ok": False, "backend": "process", "error": str(error)}
        return {"ok": True, "backend": "process", "isolation": sandbox.isolation}
    if backend == "docker":
        try:
            import docker

            from grader.sandbox.gpu import gpu_status

            client = docker.from_env(timeout=2)
            client.ping()
            out_of_service = {
                uuid: state for uuid, state in gpu_status().items() if uuid in settings.GRADER_GPUS
            }
            return {
                "ok": len(out_of_service) < len(settings.GRADER_GPUS) or not settings.GRADER_GPUS,
                "backend": "docker",
                "isolation": "container (hardened profile)",
                "gpus": settings.GRADER_GPUS,
                "gpus_out_of_service": out_of_service,
            }
        except Exception as error:  # noqa: BLE001  (any failure means the engine is unusable)
            return {
                "ok": False,
                "backend": "docker",
                "error": f"Docker Engine not answering: {error}",
            }
    return {"ok": False, "backend": backend, "error": f"unknown GRADER_BACKEND {backend!r}"}


def database_status() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return {"ok": True, "vendor": connection.vendor}
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "vendor": connection.vendor, "error": str(error)}


def broker_status() -> dict:
    from config.celery import app

    url = settings.CELERY_BROKER_URL
    transport = url.split("://", 1)[0]
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=2)
        return {"ok": True, "transport": transport}
    except Exception as error:  # noqa: BLE001
        return {"ok": False, "transport": transport, "error": str(error)}


def worker_status() -> dict:
    now = timezone.now()
    workers = [w for w in WorkerHeartbeat.objects.all() if w.is_alive(now)]
    # Leaderboard refreshes, the reaper and reminders run on the site queue: without a
    # consumer the boards stop changing though grading goes on.
    site = any(SITE_QUEUE in w.queues.split(",") for w in workers)
    return {
        "ok": bool(workers) and site,
        "site_queue": site,
        "alive": [
            {
                "hostname": w.hostname,
                "queues": w.queues,
                "backend": w.backend,
                "isolation": w.isolation,
                "gpus": w.gpus,
                "started_at": w.started_at.isoformat(),
                "restarts": w.restarts,
                "last_seen": w.last_seen.isoformat(),
            }
            for w in workers
        ],
    }


def health_report() -> dict:
    checks = {
        "database": database_status(),
        "broker": broker_status(),
        "workers": worker_status(),
        "sandbox": sandbox_backend_status(),
    }
    if not (checks["database"]["ok"] and checks["broker"]["ok"]):
        status = "down"
    elif not (checks["workers"]["ok"] and checks["sandbox"]["ok"]):
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checks": checks}


def worker_heartbeat_beat(
    *, hostname: str, queues: str, stopped: bool = False, started: bool = False
) -> None:
    """The worker's beat; `started` on its first, `stopped` on its way out."""
    sandbox = sandbox_backend_status()
    now = timezone.now()
    defaults = {
        "queues": queues,
        "backend": sandbox["backend"],
        "isolation": sandbox.get("isolation", sandbox.get("error", ""))[:255],
        "gpus": ",".join(settings.GRADER_GPUS),
        "pid": os.getpid(),
        "last_seen": now,
        "stopped_at": now if stopped else None,
    }
    if started:
        defaults["started_at"] = now
    row, created = WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults=defaults)
    if started and not created:
        WorkerHeartbeat.objects.filter(pk=row.pk).update(restarts=F("restarts") + 1)
