"""The benchmark suite still runs: `python -m bench --quick` prints every figure as a number.

Only that the figures exist and are numbers is checked, never their values: timings on a
shared CI machine are not a pass/fail signal (the figures go in the README instead).
"""

import os
import re
import subprocess
import sys

import pytest

from bench.cli import SECTIONS
from bench_support import REPO, services_or_skip

pytestmark = [pytest.mark.services, pytest.mark.postgres, pytest.mark.slow]

FIGURE = re.compile(r"^FIGURE (?P<key>\S+) = (?P<value>.+)$", re.M)
# Every figure a quick run must print as a number.
NUMBERS = [
    "overhead.trivial.api_s",
    "overhead.trivial.direct_s",
    "overhead.trivial.ratio",
    "overhead.trivial.gap_s",
    "overhead.lab3-cartpole.baseline.gap_s",
    "pickup.p50_s",
    "pickup.p95_s",
    "rush.errors",
    "rush.upload_p50_s",
    "rush.upload_p99_s",
    "rush.drain_after_last_upload_s",
    "rush.saturation_uploads_per_s_per_core",
    "rush.open.errors",
    "rush.open.upload_p99_s",
    "rush.lost",
    "rush.double_recorded",
    "rush.workers_died",
    # The same rush on the embedded default (SQLite, the filesystem broker).
    "embedded.rush.errors",
    "embedded.rush.lost",
    "embedded.rush.double_recorded",
    "embedded.rush.workers_died",
    "leaderboard.entries",
    "leaderboard.seed_s",
    "faults.worker_kills",
    "faults.broker_restarts",
    "faults.lost",
    "faults.double_recorded",
    "faults.longest_non_final_s",
    "gpu.cpu.images_per_s",
    "gpu.cpu.model_load_s",
    "lab1.baseline.grade_s",
    "lab1.keras_lstm.grade_s",
    "lab1.torch_lstm.grade_s",
]
# Figures that may honestly be missing on this machine, with the words that must say why.
MAYBE = {
    "leaderboard.p50_ms": "not available",
    "leaderboard.p95_ms": "not available",
    "leaderboard.queries": "not available",
    "gpu.cuda.cuda_init_s": "not measured",
    "gpu.cuda.pinned_images_per_s": "not measured",
}


def _number(text: str) -> float:
    return float(text.split()[0])


def test_quick_bench_prints_every_figure(reference_entries, tmp_path):
    services_or_skip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--db", f"bench_smoke_{os.getpid()}"]
        + ["--out", str(tmp_path / "figures.json")]
        # The course rehearsal's smoke version has its own test (test_course_rehearsal.py).
        + ["--only", *(s for s in SECTIONS if s != "course")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    figures = {m["key"]: m["value"] for m in FIGURE.finditer(done.stdout)}
    for key in NUMBERS:
        assert key in figures, f"{key} was not printed:\n{done.stdout}"
        _number(figures[key])
    for key, words in MAYBE.items():
        assert key in figures, f"{key} was not printed:\n{done.stdout}"
        if not figures[key].startswith(words):
            _number(figures[key])
    assert (tmp_path / "figures.json").exists()
