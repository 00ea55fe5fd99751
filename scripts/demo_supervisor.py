"""Run the demo's site and grading worker, and keep them running (`make demo` ends here).

Each process is started in a process group of its own; one that stops is restarted (its
leftover children killed with it), and the worker's restarts show on /health/ (each worker
counts its own starts). "The site is up" is printed once the site answers, not before.
Ctrl-C (or SIGTERM) stops both. A process that keeps stopping (5 times within 5 minutes) is
not restarted again: the supervisor stops everything and says where its log is.

Standard library only: this runs before anything is known to work.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESTARTS_ALLOWED = 5
RESTART_WINDOW_S = 300.0
SITE_START_TIMEOUT_S = 120.0


def say(text: str) -> None:
    print(text, flush=True)


class Child:
    """One supervised process: restarted when it stops, unless it keeps stopping."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path | None) -> None:
        self.name, self.command, self.env, self.log_path = name, command, env, log
        self.process: subprocess.Popen | None = None
        self.stops: list[float] = []

    def start(self) -> None:
        out = None
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT if out else None,
                # Its own group: Ctrl-C reaches only the supervisor, which stops the
                # children in order; and a dead child's leftovers can be killed as a group.
                start_new_session=True,
            )
        finally:
            if out is not None:
                out.close()
        where = f"; log: {self.log_path}" if self.log_path else ""
        say(f"==> started the {self.name} (pid {self.process.pid}{where})")

    def stopped(self) -> int | None:
        """The exit code when the process has stopped (its group is then cleared)."""
        if self.process is None or self.process.poll() is None:
            return None
        self._kill_group()
        return self.process.returncode

    def may_restart(self, now: float) -> bool:
        self.stops = [t for t in self.stops if now - t < RESTART_WINDOW_S] + [now]
        return len(self.stops) <= RESTARTS_ALLOWED

    def stop(self, timeout_s: float = 30) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()  # celery: a warm shutdown that stops its pool too
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)
        self._kill_group()

    def _kill_group(self) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # nothing left in the group


def site_answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - our own loopback site
            return True
    except urllib.error.HTTPError:
        return True  # an answer all the same (e.g. 503 while no worker has reported)
    except (OSError, ValueError):
        return False


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    p.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    var = Path(os.environ.get("PLATFORM_VAR_DIR", ROOT / "var"))
    address = f"http://{args.host}:{args.port}"
    local = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '') else args.host}:{args.port}"  # noqa: S104
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        # Links in emails lead to this site, whatever its port.
        "SITE_URL": os.environ.get("SITE_URL") or address,
    }
    python = sys.executable
    worker = Child(
        "grading worker",
        [python, "-m", "celery", "-A", "config", "worker", "-Q", "site,cpu,gpu"]
        + ["--concurrency", "1", "--beat", "--schedule", str(var / "celerybeat-schedule")]
        + ["--loglevel", "INFO"],
        env,
        var / "log" / "worker.log",
    )
    # The site's output stays in this terminal: the demo's emails are printed there.
    site = Child(
        "site",
        [python, "manage.py", "runserver", f"{args.host}:{args.port}", "--noreload"],
        env,
        None,
    )
    children = [worker, site]

    stopping = False

    def stop(signum, frame) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    status = 0
    try:
        for child in children:
            child.start()
        announced = False
        began = time.monotonic()
        while not stopping:
            for child in children:
                code = child.stopped()
                if code is None or stopping:
                    continue
                if not child.may_restart(time.monotonic()):
                    where = f" (see {child.log_path})" if child.log_path else ""
                    say(f"==> the {child.name} keeps stopping{where}: stopping the demo")
                    status = 1
                    stopping = True
                    break
                say(f"==> the {child.name} stopped (exit code {code}); restarting it")
                child.start()
            if not announced and not stopping:
                if site_answers(f"{local}/health/"):
                    announced = True
                    say(f"\n  The site is up at {address}/  (health: {address}/health/)")
                    say("  Log in with a demo login printed above. Stop with Ctrl-C.\n")
                elif time.monotonic() - began > SITE_START_TIMEOUT_S:
                    say(f"==> the site did not answer at {local}/ within 2 minutes")
                    status, stopping = 1, True
            time.sleep(0.5)
    finally:
        say("==> stopping the site and the grading worker")
        for child in reversed(children):
            child.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
