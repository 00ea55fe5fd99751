"""Deadline rush: N API uploads from C concurrent clients against gunicorn + PostgreSQL + Redis
(and, with `--stack embedded`, against gunicorn + SQLite + the filesystem broker).

Each client is a thread with its own student and token, and sends its uploads back to back
(a student re-submitting before the deadline). Then the grading workers drain the queue; the
wait is bounded, and every accepted upload must end in exactly one final state.
"""

from __future__ import annotations

import os
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


def open_loop(base_url: str, tokens: list[str], rate: float, seconds: float) -> ClientResult:
    """Uploads sent at a FIXED arrival rate, whatever the answers (as students arrive at a
    deadline), each from a student in turn. A latency counts from the moment the upload was
    due, so a backlog (the site falling behind the rate) shows up in it, which a closed loop
    of N clients hides (Little's law: they simply send less)."""
    total = max(1, round(rate * seconds))
    out = ClientResult()
    lock = threading.Lock()
    local = threading.local()
    url = f"{base_url}/api/labs/lab3-cartpole/entries/"

    def one(i: int, due: float) -> None:
        if not hasattr(local, "sessions"):
            local.sessions = {}
        token = tokens[i % len(tokens)]
        session = local.sessions.setdefault(token, requests.Session())
        session.headers["Authorization"] = f"Token {token}"
        try:
            response = session.post(url, files={"file": ("submission.py", TRIVIAL)}, timeout=60)
        except requests.RequestException as exc:
            with lock:
                out.errors.append(type(exc).__name__)
            return
        with lock:
            out.latencies.append(time.perf_counter() - due)
            if response.status_code == 201:
                out.entry_ids.append(int(response.json()["id"]))
            else:
                out.errors.append(f"HTTP {response.status_code}: {response.text[:120]}")

    from concurrent.futures import ThreadPoolExecutor

    start = time.perf_counter() + 0.5
    with ThreadPoolExecutor(max_workers=64) as pool:
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(one, i, due)
    return out


def _latency(target: str, stack: Stack) -> str:
    """Upload latency targets are the production stack's; on the embedded default (one
    SQLite file: one writer at a time) the rush must lose nothing, and its times are shown."""
    return "" if stack.env.embedded else target


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def run(stack: Stack, report: Report, students: list[tuple[object, str]], args) -> None:

    from submissions.models import FINAL, GradingRun

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
    twice = recorded_twice(runs)

    report.add("rush.uploads", uploads)
    report.add("rush.clients", clients)
    report.add("rush.errors", len(errors), "", "== 0")
    if latencies:
        report.add("rush.upload_p50_s", percentile(latencies, 50), "s")
        report.add("rush.upload_p99_s", percentile(latencies, 99), "s", _latency("< 1.0", stack))
    else:
        report.missing("rush.upload_p50_s", "not available: no upload got an answer")
        report.missing("rush.upload_p99_s", "not available: no upload got an answer")
    rate = len(latencies) / max(uploaded - began, 1e-9)
    report.add("rush.upload_rate", rate, "uploads/s")
    # The closed loop keeps the site saturated: its rate is the saturation throughput.
    cores = os.cpu_count() or 1
    report.add("rush.saturation_uploads_per_s_per_core", rate / cores, "uploads/s/core")
    report.note(f"saturation per core: {rate:.1f} uploads/s over {cores} cores of this machine")
    report.add("rush.upload_phase_s", uploaded - began, "s")
    report.add("rush.drain_after_last_upload_s", drained - uploaded, "s")
    report.add("rush.not_final_after_wait", left, "", "== 0")
    report.add("rush.lost", len(ids) - accepted_with_run + left, "", "== 0")
    report.add("rush.double_recorded", twice, "", "== 0")
    # A worker that died under the rush (as kombu's filesystem transport made the demo's do).
    report.add("rush.workers_died", args.rush_workers - stack.workers_alive(), "", "== 0")
    statuses = sorted(set(runs.values_list("status", flat=True)))
    report.note(f"final statuses seen: {', '.join(statuses)}")


def recorded_twice(runs) -> int:
    """Runs with more than one final event: a result recorded twice."""
    from django.db.models import Count

    from submissions.models import FINAL, RunEvent

    return (
        RunEvent.objects.filter(run__in=runs, to_status__in=FINAL)
        .values("run")
        .annotate(n=Count("pk"))
        .filter(n__gt=1)
        .count()
    )


def run_open_loop(stack: Stack, report: Report, students: list[tuple[object, str]], args) -> None:
    """The open-loop run: a fixed arrival rate (default 20 uploads/s for 60 s)."""
    rate = args.open_rate or (5.0 if args.quick else 20.0)
    seconds = args.open_seconds or (4.0 if args.quick else 60.0)
    print(f"\n== Deadline rush, open loop: {rate:g} uploads/s for {seconds:g} s", flush=True)
    assert stack.site is not None
    result = open_loop(stack.site.base_url, [token for _, token in students], rate, seconds)
    for e in sorted(set(result.errors))[:5]:
        report.note(f"open-loop upload error: {e}")
    report.add("rush.open.rate", rate, "uploads/s")
    report.add("rush.open.errors", len(result.errors), "", "== 0")
    if result.latencies:
        report.add("rush.open.upload_p50_s", percentile(result.latencies, 50), "s")
        report.add(
            "rush.open.upload_p99_s",
            percentile(result.latencies, 99),
            "s",
            _latency("< 0.5", stack),
        )
    else:
        report.missing("rush.open.upload_p99_s", "not available: no upload got an answer")
    cancel_left_over(result.entry_ids)


def cancel_left_over(entry_ids: list[int]) -> None:
    """The open loop measures uploads, not grading: its runs still in the queue are
    cancelled, so they do not grade (and get re-rung by the reaper) under the next section."""
    from submissions.models import ACTIVE, GradingRun, Status
    from submissions.services.runs import run_transition

    left = GradingRun.objects.filter(entry_id__in=entry_ids, status__in=ACTIVE)
    cancelled = sum(
        run_transition(pk, Status.CANCELLED, note="bench: the open loop is over")
        for pk in left.values_list("pk", flat=True)
    )
    print(f"  note: {cancelled} open-loop runs still queued were cancelled", flush=True)
