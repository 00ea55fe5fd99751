"""The private split after the window, as the tests drive it: close a lab's window (its
deadline moved into the past), then let the beat's sweep queue the private runs and a worker
grade them (docs/private-split.md)."""

from datetime import timedelta

from django.utils import timezone

from courses.models import Lab
from submissions.models import GradingRun
from submissions.services import private, worker


def close_window(lab: Lab, *, reveal: bool = False) -> None:
    """The lab's deadline a second ago (and its private split revealed, if asked)."""
    closed = timezone.now() - timedelta(seconds=1)
    Lab.objects.filter(pk=lab.pk).update(
        closes_at=closed,
        opens_at=min(lab.opens_at, closed - timedelta(days=1)),
        private_revealed=reveal,
    )
    lab.refresh_from_db()


def grade_private_split(worker_name: str = "w1") -> list[GradingRun]:
    """One pass of the beat's sweep, then each private run it queued graded by a worker."""
    assert private.private_runs_queue() >= 0
    queued = list(GradingRun.objects.filter(split="private", status="queued").order_by("pk"))
    for run in queued:
        worker.run_execute(run_id=run.pk, worker=worker_name)
        run.refresh_from_db()
    return queued
