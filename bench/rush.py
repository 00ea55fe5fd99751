"""Deadline rush: N API uploads from C concurrent clients against gunicorn + PostgreSQL + Redis.

Each client is a thread with its own student and token, and sends its uploads back to back
(a student re-submitting before the deadline). Then the grading workers drain the queue; the
wait is bounded, and every accepted upload must end in exactly one final state.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import requests

from .data import TRIVIAL
from .report import Report, percentile
from .stack import Stack


@dataclass
class ClientResult:
    latencies: list[float] = field(default_factory=list)
    entry_ids: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _client(base_url: str, token: str, count: int, start: threading.Barrier, out: ClientResult):
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    url = f"{base_url}/api/labs/lab3-cartpole/entries/"
    start.wait(timeout=60)
    for _ in range(count):
        t0 = time.perf_counter()
        try:
            response = session.post(url, files={"file": ("submission.py", TRIVIAL)}, timeout=60)
        except requests.RequestException as exc:
            out.errors.append(type(exc).__name__)
            continue
        out.latencies.append(time.perf_counter() - t0)
        if response.status_code == 201:
            out.entry_ids.append(int(response.json()["id"]))
        else:
            out.errors.append(f"HTTP {response.status_code}: {response.text[:120]}")
    session.close()


def _warm_site(base_url: str, token: str, quick: bool) -> None:
    """Concurrent uploads first, so each gunicorn worker has imported the upload path (a
    cold worker's first upload is a deploy cost, not a rush cost). Not counted below."""
    count = 4 if quick else 16
    warm = ClientResult()
    barrier = threading.Barrier(count + 1)
    threads = [
        threading.Thread(target=_client, args=(base_url, token, 1, barrier, warm), daemon=True)
        for _ in range(count)
    ]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    for t in threads:
        t.join(timeout=120)


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run(stack: Stack, report: Report, students: list[tuple[object, str]], args) -> None:
    from django.db.models import Count

    from submissions.models import FINAL, GradingRun, RunEvent

    uploads = args.rush_uploads or (20 if args.quick else 1000)
    clients = min(args.rush_clients or (5 if args.quick else 50), len(students))
    print(
        f"\n== Deadline rush: {uploads} uploads from {clients} clients, "
        f"{args.rush_workers} grading workers",
        flush=True,
    )
    assert stack.site is not None
    for _ in range(args.rush_workers):
        stack.start_worker()
    _warm_site(stack.site.base_url, students[-1][1], args.quick)
    results = [ClientResult() for _ in range(clients)]
    barrier = threading.Barrier(clients + 1)
    threads = [
        threading.Thread(
            target=_client,
            args=(stack.site.base_url, students[i][1], n, barrier, results[i]),
            daemon=True,
        )
        for i, n in enumerate(_split(uploads, clients))
    ]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    began = time.monotonic()
    for t in threads:
        # Bounded: every request has a 60 s timeout, so a client cannot hang forever.
        t.join(timeout=args.rush_drain_s)
    uploaded = time.monotonic()
    latencies = [x for r in results for x in r.latencies]
    errors = [e for r in results for e in r.errors]
    ids = [i for r in results for i in r.entry_ids]
    for e in sorted(set(errors))[:5]:
        report.note(f"upload error: {e}")

    runs = GradingRun.objects.filter(entry_id__in=ids)

    def unfinished() -> int:
        return runs.exclude(status__in=FINAL).count()

    deadline = uploaded + args.rush_drain_s
    while unfinished() and time.monotonic() < deadline:
        time.sleep(0.5)
    drained = time.monotonic()
    left = unfinished()
    accepted_with_run = runs.values("entry_id").distinct().count()
    twice = (
        RunEvent.objects.filter(run__in=runs, to_status__in=FINAL)
        .values("run")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )

    report.add("rush.uploads", uploads)
    report.add("rush.clients", clients)
    report.add("rush.errors", len(errors), "", "== 0")
    if latencies:
        report.add("rush.upload_p50_s", percentile(latencies, 50), "s")
        report.add("rush.upload_p99_s", percentile(latencies, 99), "s", "< 1.0")
    else:
        report.missing("rush.upload_p50_s", "not available: no upload got an answer")
        report.missing("rush.upload_p99_s", "not available: no upload got an answer")
    report.add("rush.upload_rate", len(latencies) / max(uploaded - began, 1e-9), "uploads/s")
    report.add("rush.upload_phase_s", uploaded - began, "s")
    report.add("rush.drain_after_last_upload_s", drained - uploaded, "s")
    report.add("rush.not_final_after_wait", left, "", "== 0")
    report.add("rush.lost", len(ids) - accepted_with_run + left, "", "== 0")
    report.add("rush.double_recorded", twice, "", "== 0")
    statuses = sorted(set(runs.values_list("status", flat=True)))
    report.note(f"final statuses seen: {', '.join(statuses)}")
