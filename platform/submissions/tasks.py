from celery import shared_task

from .services import private, reaper, worker


@shared_task(name="submissions.grade_run", acks_late=True, reject_on_worker_lost=True, bind=True)
def grade_run(self, run_id: int) -> str:
    return worker.run_execute(run_id=run_id, worker=self.request.hostname or "worker")


@shared_task(name="submissions.reap_runs")
def reap_runs() -> dict:
    return reaper.runs_reap()


@shared_task(name="submissions.queue_private_runs")
def queue_private_runs() -> int:
    return private.private_runs_queue()
