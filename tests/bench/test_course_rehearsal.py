"""The course rehearsal's smoke version (issue 24): a few dozen people through one lab, its
deadline, the private split, one fault (a grading worker SIGKILLed mid-rush), judging,
pitches, the reveal and the announcement, all over HTTP against gunicorn, PostgreSQL,
Redis, the workers and the beat. The full size runs in `make bench` (`--only course`).

Unlike the other bench figures these are pass/fail: the rehearsal's checks (no private
figure before its reveal, counted entries frozen, standings equal a recomputation, nothing
announced unless final, every email once) and its counts (0 server errors, 0 lost and 0
double-recorded runs) hold on any machine; its timings are not asserted.
"""

import os
import re
import subprocess
import sys

import pytest

from bench.report import FIGURE_LINE
from bench_support import REPO, services_or_skip

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.slow]

FIGURE = re.compile(FIGURE_LINE, re.M)  # the report's own line format
MUST_BE_ZERO = [
    "course.server_errors",
    "course.lost",
    "course.double_recorded",
    "course.check_failures",
]


def test_a_small_course_runs_through_with_a_worker_killed(reference_entries, tmp_path):
    services_or_skip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--only", "course"]
        + ["--db", f"bench_course_{os.getpid()}", "--out", str(tmp_path / "figures.json")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    figures = {m["key"]: m["value"] for m in FIGURE.finditer(done.stdout)}
    for key in MUST_BE_ZERO:
        assert figures.get(key) == "0", f"{key} = {figures.get(key)}\n{out[-4000:]}"
    assert figures["course.faults"] == "1"
    assert int(figures["course.uploads_accepted"]) > 10
    assert int(figures["course.uploads_refused"]) > 0  # the quota bit
    assert int(figures["course.check_rounds"]) > 3
    assert float(figures["course.lab3-cartpole.deadline_to_private_board_s"]) > 0
