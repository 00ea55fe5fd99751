"""`make demo`'s supervisor: "The site is up" once the site answers, at the address of the
port asked for; a worker that dies is restarted and /health/ shows it; Ctrl-C stops all."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


class Output:
    """The supervisor's output, read as it comes (a thread: the pipe must never fill)."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float, after: int = 0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self.lines[after:]:
                found = re.search(pattern, line)
                if found:
                    return found
            time.sleep(0.1)
        pytest.fail(f"no line matching {pattern!r} in {timeout:.0f} s:\n" + "\n".join(self.lines))


def _wait(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")


def test_the_demo_announces_the_site_when_it_answers_and_brings_a_dead_worker_back(tmp_path):
    port = _free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        "PLATFORM_VAR_DIR": str(tmp_path / "var"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)  # the embedded default: SQLite in PLATFORM_VAR_DIR
    env.pop("SITE_URL", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
    )
    supervisor = subprocess.Popen(
        [sys.executable, "scripts/demo_supervisor.py", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out = Output(supervisor)
    try:
        address = f"http://127.0.0.1:{port}"
        out.wait_for(rf"The site is up at {re.escape(address)}/ ", 120)
        status, _ = _get(f"{address}/health/")  # it answers as soon as it is announced
        assert status in (200, 503)

        def worker_row(restarts: int):
            alive = _get(f"{address}/health/")[1]["checks"]["workers"]["alive"]
            return next((w for w in alive if w["restarts"] == restarts), None)

        first = _wait(lambda: worker_row(0), 90, "the worker's first heartbeat")
        pid = int(out.wait_for(r"started the grading worker \(pid (\d+)", 5).group(1))
        seen = len(out.lines)
        os.kill(pid, signal.SIGKILL)  # what a crash or the OOM killer does
        out.wait_for(r"the grading worker stopped \(exit code -9\); restarting it", 30, seen)
        again = _wait(lambda: worker_row(1), 90, "/health/ to show the restarted worker")
        assert again["hostname"] == first["hostname"]
        assert again["started_at"] > first["started_at"]
        assert supervisor.poll() is None  # the site stayed up all along
        assert _get(f"{address}/health/")[0] in (200, 503)
    finally:
        supervisor.send_signal(signal.SIGINT)
        code = supervisor.wait(timeout=60)
    assert code == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/health/", timeout=2)


def test_the_readme_follows_the_port_and_says_what_the_tests_need():
    readme = (ROOT / "README.md").read_text()
    commands = readme.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    # The address moves with PORT, and no snippet assumes the demo's port.
    assert "`HOST` and `PORT` change it" in commands
    assert "127.0.0.1:8000/api/" not in readme
    assert 'SITE = "http://127.0.0.1:8000"' in readme and 'f"{SITE}/api/labs/' in readme
    demo = (ROOT / "scripts" / "demo.sh").read_text()
    assert 'SITE_URL="${SITE_URL:-http://$HOST:$PORT}"' in demo
    # `make demo` installs requirements.txt alone; the tests need requirements-dev.txt.
    assert "ensure_venv requirements.txt" in demo
    assert "`make demo` installs `requirements.txt` only" in commands
    assert "requirements-dev.txt" in commands
