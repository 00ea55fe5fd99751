from datetime import timedelta

from django.db import models
from django.utils import timezone

# A worker that has not reported for this long is considered gone.
WORKER_STALE_AFTER = timedelta(seconds=60)


class WorkerHeartbeat(models.Model):
    """One row per grading worker, refreshed while it runs (any broker, no control channel)."""

    hostname = models.CharField(max_length=255, unique=True)
    queues = models.CharField(max_length=255, blank=True)
    backend = models.CharField(max_length=32, blank=True)
    isolation = models.CharField(max_length=255, blank=True)
    gpus = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField(default=timezone.now)  # this run of the worker
    # Times a worker of this name started again (a deploy, or a supervisor bringing a dead
    # one back: `make demo` restarts its worker), shown on /health/.
    restarts = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField(default=timezone.now)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def is_alive(self, now=None) -> bool:
        now = now or timezone.now()
        return self.stopped_at is None and now - self.last_seen < WORKER_STALE_AFTER
