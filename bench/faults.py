"""Fault injection: SIGKILL the grading worker at random moments during N runs (seeded), and
restart the broker once mid-way without persistence, losing every message it held.

Recovery is the platform's own: a short broker visibility timeout re-delivers what a killed
worker held, and `submissions.services.reaper.runs_reap` (what the worker's beat runs every 30 s)
re-queues runs whose heartbeat stopped and re-sends queued runs the broker lost. The reaper
runs here once a second with its clocks scaled down (heartbeat stale after 5 s instead of
90 s, re-send after 6 s instead of 5 min), so the bench waits seconds, not minutes.

Afterwards every run must be final (none lost) with exactly one final RunEvent whose state
matches the run's (none recorded twice).
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile

from .report import Report
from .stack import Stack, use_broker

# Sleeps before answering, so a kill often lands while the run is in flight.
SLOW = b"import time\ntime.sleep(0.5)\n\n\ndef act(observation):\n    return 0\n"
IN_FLIGHT = 4  # runs kept queued or running at a time, like a steady stream of students
HEARTBEAT_STALE = timedelta(seconds=5)
REDELIVER_QUEUED_AFTER = timedelta(seconds=6)


def run(stack: Stack, report: Report, user, args) -> None:
    from django.db.models import Count

    from courses.models import Lab
    from submissions.models import ACTIVE, FINAL, Entry, GradingRun, RunEvent, Status
    from submissions.services import intake, reaper
    from submissions.services.runs import MAX_DELIVERIES

    total = args.fault_runs or (6 if args.quick else 100)
    budget_s = 90 if args.quick else 600
    rng = random.Random(args.seed)
    print(
        f"\n== Fault injection: {total} runs, worker SIGKILLed at random moments "
        f"(seed {args.seed}), one broker restart",
        flush=True,
    )
    assert stack.redis is not None
    lab = Lab.objects.get(spec_id="lab3-cartpole", edition__is_current=True)
    # The reaper's clocks, scaled down in this (driver) process only.
    saved = reaper.HEARTBEAT_STALE, reaper.REDELIVER_QUEUED_AFTER
    reaper.HEARTBEAT_STALE, reaper.REDELIVER_QUEUED_AFTER = (
        HEARTBEAT_STALE,
        REDELIVER_QUEUED_AFTER,
    )
    try:
        worker = stack.start_worker(visibility_timeout_s=5)
        entry_ids: list[int] = []
        kills = reaped = 0
        restarted = False
        began = time.monotonic()
        deadline = began + budget_s
        next_kill = began + rng.uniform(1.0, 6.0)
        next_reap = began + 1.0
        while time.monotonic() < deadline:
            active = GradingRun.objects.filter(entry_id__in=entry_ids, status__in=ACTIVE)
            in_flight = active.count()
            if len(entry_ids) == total and in_flight == 0:
                break
            while len(entry_ids) < total and in_flight < IN_FLIGHT:
                upload = SimpleUploadedFile("submission.py", SLOW)
                entry_ids.append(intake.entry_submit(user=user, lab=lab, upload=upload).pk)
                in_flight += 1
            now = time.monotonic()
            if not restarted and len(entry_ids) >= total // 2:
                stack.redis.restart()
                use_broker(stack.redis.url)
                restarted = True
            if now >= next_kill and active.filter(status=Status.RUNNING).exists():
                worker.kill()
                stack.workers.remove(worker)
                worker.log.close()
                kills += 1
                worker = stack.start_worker(visibility_timeout_s=5, wait=False)
                next_kill = now + rng.uniform(2.0, 12.0)
            if now >= next_reap:
                counts = reaper.runs_reap()
                reaped += counts["requeued"] + counts["reenqueued"]
                next_reap = now + 1.0
            time.sleep(0.1)
        elapsed = time.monotonic() - began
    finally:
        reaper.HEARTBEAT_STALE, reaper.REDELIVER_QUEUED_AFTER = saved

    entries = Entry.objects.filter(pk__in=entry_ids)
    runs = GradingRun.objects.filter(entry__in=entries)
    not_final = runs.exclude(status__in=FINAL).count()
    without_run = entries.filter(runs__isnull=True).count()
    final_counts = dict(
        RunEvent.objects.filter(run__in=runs, to_status__in=FINAL)
        .values_list("run")
        .annotate(n=Count("pk"))
        .values_list("run", "n")
    )
    twice = sum(1 for n in final_counts.values() if n > 1)
    # The final event must say what the run says, and a final run must have its event.
    mismatched = 0
    for run_id, status in runs.values_list("pk", "status"):
        if status in FINAL:
            last = RunEvent.objects.filter(run_id=run_id, to_status__in=FINAL).last()
            if last is None or last.to_status != status:
                mismatched += 1
    longest = 0.0
    for created, finished in runs.values_list("entry__created_at", "finished_at"):
        end = finished.timestamp() if finished else time.time()
        longest = max(longest, end - created.timestamp())
    deliveries = sum(runs.values_list("deliveries", flat=True))
    errors = runs.filter(status=Status.ERROR).count()

    report.add("faults.runs", len(entry_ids))
    report.add("faults.worker_kills", kills)
    report.add("faults.broker_restarts", 1 if restarted else 0)
    report.add("faults.reaper_actions", reaped)
    report.add("faults.lost", not_final + without_run + (total - len(entry_ids)), "", "== 0")
    report.add("faults.double_recorded", twice, "", "== 0")
    report.add("faults.state_mismatch", mismatched, "", "== 0")
    report.add("faults.longest_non_final_s", longest, "s")
    report.add("faults.deliveries_per_run", deliveries / max(1, runs.count()))
    report.add("faults.platform_errors", errors)
    report.add("faults.wall_s", elapsed, "s")
    statuses = sorted(set(runs.values_list("status", flat=True)))
    report.note(f"final statuses seen: {', '.join(statuses)}")
    for status in statuses:
        if status != Status.SCORED:
            odd = runs.filter(status=status)
            sample = odd.first()
            why = (sample.reason if sample else "")[:200]
            report.note(f"{odd.count()} run(s) ended {status}, e.g. run {sample.pk}: {why}")
    if errors:
        report.note(
            f"{errors} run(s) were killed {MAX_DELIVERIES} times and ended as a platform "
            "error (refunded, re-gradable): recorded once, not lost"
        )
