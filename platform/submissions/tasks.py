from celery import shared_task

from . import services


@shared_task(name="submissions.grade_run", acks_late=True, reject_on_worker_lost=True, bind=True)
def grade_run(self, run_id: int) -> str:
    return services.run_execute(run_id=run_id, worker=self.request.hostname or "worker")


@shared_task(name="submissions.reap_runs")
def reap_runs() -> dict:
    return services.runs_reap()
