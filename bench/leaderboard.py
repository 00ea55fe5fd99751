"""Leaderboard scale: N scored entries in one lab, then the leaderboard API's latency and queries.

The entries are written with bulk_create straight into the database (2,000 students x 50
entries for N = 100,000), each with one scored run carrying every metric of the lab spec,
so the leaderboard has real ranking work to do. Latency is measured over HTTP (gunicorn);
the query count in-process with Django's test client, on the same database.
"""

from __future__ import annotations

import hashlib
import random
import time
import uuid
from datetime import timedelta

import requests

from .report import Report, percentile
from .stack import Stack

SPEC_ID = "lab2-debias"
# URL names the leaderboard API may be registered under (the app is being written alongside).
URL_NAMES = ("api-lab-leaderboard", "api-leaderboard", "leaderboard-api", "api-lab-standings")


def leaderboard_path(spec_id: str) -> str | None:
    """The leaderboard API's path for a lab, or None while the API does not exist."""
    from django.urls import NoReverseMatch, reverse

    for name in URL_NAMES:
        try:
            return reverse(name, kwargs={"spec_id": spec_id})
        except NoReverseMatch:
            continue
    return None


def seed(edition, entries: int, seed_value: int) -> None:
    """`entries` scored entries in SPEC_ID from entries // 50 students (at least 1)."""
    from django.utils import timezone

    from accounts.models import User
    from courses.models import Enrollment, Lab
    from grader.specs import load_spec
    from submissions.models import Entry, GradingRun, Participant, Status

    rng = random.Random(seed_value)
    lab = Lab.objects.get(edition=edition, spec_id=SPEC_ID)
    names = load_spec(SPEC_ID).metric_names
    per_student = 50
    count = max(1, entries // per_student)
    users = User.objects.bulk_create(
        [User(username=f"lb{i:06d}", role="student") for i in range(count)], batch_size=5000
    )
    Enrollment.objects.bulk_create([Enrollment(edition=edition, user=u) for u in users])
    participants = Participant.objects.bulk_create(
        [Participant(lab=lab, user=u) for u in users], batch_size=5000
    )
    now = timezone.now()
    batch = 10_000
    for start in range(0, entries, batch):
        rows = []
        for i in range(start, min(entries, start + batch)):
            p = participants[i % count]
            uid = uuid.uuid4()
            rows.append(
                Entry(
                    uid=uid,
                    lab=lab,
                    user_id=p.user_id,
                    participant=p,
                    file=f"entries/bench/{SPEC_ID}/{uid}/baseline.pt",
                    original_name="baseline.pt",
                    size_bytes=100_000,
                    sha256=hashlib.sha256(uid.bytes).hexdigest(),
                    kind="torch",
                    status=Status.SCORED,
                    created_at=now - timedelta(seconds=i),
                )
            )
        made = Entry.objects.bulk_create(rows, batch_size=5000)
        runs = []
        for e in made:
            public = {name: round(rng.uniform(50, 100), 4) for name in names}
            private = {name: round(rng.uniform(50, 100), 4) for name in names}
            # What the grader stores with a run: a 95 % interval per metric and the per-example
            # outcomes of each split (the paired test of statistical ties reads these).
            intervals = {
                split: {k: [v - rng.uniform(1, 5), v + rng.uniform(1, 5)] for k, v in m.items()}
                for split, m in (("public", public), ("private", private))
            }
            outcomes = {
                split: _outcomes(rng, m[names[0]] / 100)
                for split, m in (("public", public), ("private", private))
            }
            runs.append(
                GradingRun(
                    entry=e,
                    status=Status.SCORED,
                    deliveries=1,
                    queued_at=e.created_at,
                    started_at=e.created_at,
                    scoring_at=e.created_at,
                    finished_at=e.created_at + timedelta(seconds=5),
                    metrics=public,
                    split_metrics={"public": public, "private": private},
                    split_intervals=intervals,
                    outcomes=outcomes,
                )
            )
        GradingRun.objects.bulk_create(runs, batch_size=5000)
    # What autovacuum does shortly after a bulk load; with the empty tables' statistics the
    # planner picks per-row scans that make the leaderboard query quadratic.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


EXAMPLES_PER_SPLIT = 200


def _outcomes(rng: random.Random, accuracy: float) -> dict:
    import numpy as np

    from grader.intervals import pack_outcomes

    correct = np.array([rng.random() < accuracy for _ in range(EXAMPLES_PER_SPLIT)], dtype=float)
    return pack_outcomes(correct)


def refresh_standings(edition) -> None:
    """Bulk loading skips the services, so choose each student's standing run as they would."""
    from courses.models import Lab
    from submissions.standing import lab_standings_refresh

    lab_standings_refresh(lab=Lab.objects.get(edition=edition, spec_id=SPEC_ID))


def rank_board(edition) -> None:
    """The lab's board ranked and stored, as the site worker's refresh task does."""
    from courses.models import Lab
    from leaderboards.services import board_refresh

    board_refresh(lab=Lab.objects.get(edition=edition, spec_id=SPEC_ID))


def query_count(path: str, token: str) -> tuple[int, int]:
    """(queries, HTTP status) of one leaderboard request, in-process."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Token {token}")
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    return len(queries), response.status_code


def run(stack: Stack, report: Report, edition, args, token: str) -> None:
    entries = args.leaderboard_entries or (1000 if args.quick else 100_000)
    print(f"\n== Leaderboard scale: {entries} scored entries in {SPEC_ID}", flush=True)
    t0 = time.perf_counter()
    seed(edition, entries, args.seed)
    report.add("leaderboard.entries", entries)
    report.add("leaderboard.seed_s", time.perf_counter() - t0, "s")
    t0 = time.perf_counter()
    refresh_standings(edition)
    report.add("leaderboard.standings_refresh_s", time.perf_counter() - t0, "s")
    t0 = time.perf_counter()
    rank_board(edition)
    # What the site worker's task does after each change, off every request and transaction.
    report.add("leaderboard.board_refresh_s", time.perf_counter() - t0, "s")
    path = leaderboard_path(SPEC_ID)
    if path is None:
        why = "not available: no leaderboard API route yet (tried " + ", ".join(URL_NAMES) + ")"
        for key in ("leaderboard.p50_ms", "leaderboard.p95_ms", "leaderboard.queries"):
            report.missing(key, why)
        return
    assert stack.site is not None
    session = requests.Session()
    session.headers["Authorization"] = f"Token {token}"
    url = stack.site.base_url + path
    first = session.get(url, timeout=90)
    if first.status_code != 200:
        why = f"not available: {path} answered HTTP {first.status_code}"
        for key in ("leaderboard.p50_ms", "leaderboard.p95_ms", "leaderboard.queries"):
            report.missing(key, why)
        return
    latencies: list[float] = []
    # Up to 100 requests (5 with --quick), within a 60 s budget but never fewer than 3.
    budget_end = time.monotonic() + 60
    while len(latencies) < (5 if args.quick else 100) and (
        time.monotonic() < budget_end or len(latencies) < 3
    ):
        t = time.perf_counter()
        session.get(url, timeout=90).raise_for_status()
        latencies.append((time.perf_counter() - t) * 1000)
    session.close()
    queries, status = query_count(path, token)
    report.add("leaderboard.samples", len(latencies))
    report.add("leaderboard.p50_ms", percentile(latencies, 50), "ms")
    report.add("leaderboard.p95_ms", percentile(latencies, 95), "ms", "< 50")
    report.add("leaderboard.queries", queries, "", "<= 7")
    report.add("leaderboard.response_kib", len(first.content) / 1024, "KiB")  # one page: constant
    report.add("leaderboard.page_rows", len(first.json().get("rows", [])), "", "<= 100")
    if status != 200:
        report.note(f"the in-process request answered HTTP {status}")
