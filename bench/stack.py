"""The services a benchmark runs against, all on loopback and all started (and stopped) here.

The production stack: a throw-away PostgreSQL database, our own redis-server on a free port
(no persistence, so a restart loses every message, like a broker crash), gunicorn, and Celery
workers. The embedded default (`--stack embedded`): the same gunicorn and workers on what a
bare machine runs, a SQLite file and the filesystem broker, both in this run's folder. Every
process started here is stopped by `Stack.close()`, which the CLI calls in a `finally`.
"""

from __future__ import annotations

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PLATFORM = REPO / "platform"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate, timeout_s: float, what: str, poll_s: float = 0.1):
    """Poll `predicate` until it returns something truthy; bounded in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@dataclass
class BenchEnv:
    """Where this run keeps its state: nothing shared with the developers' var/ or databases."""

    root: Path
    db_name: str
    hidden_dir: Path
    broker_url: str = ""
    embedded: bool = False  # SQLite and the filesystem broker, as `make demo` runs

    @property
    def database_url(self) -> str:
        if self.embedded:
            return f"sqlite:///{self.var_dir / 'db.sqlite3'}"
        return f"postgres://postgres@127.0.0.1:5432/{self.db_name}"

    @property
    def media_root(self) -> Path:
        return self.root / "media"

    @property
    def var_dir(self) -> Path:
        return self.root / "var"

    def process_env(self, **extra: str) -> dict[str, str]:
        """The environment of every platform process we start (site, workers, the driver)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
        return {
            **base,
            "PYTHONPATH": f"{PLATFORM}:{REPO}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            # DEBUG off: DEBUG keeps every SQL query in memory and slows every request.
            "DJANGO_DEBUG": "0",
            "DATABASE_URL": self.database_url,
            "CELERY_BROKER_URL": self.broker_url,
            "MEDIA_ROOT": str(self.media_root),
            # The embedded broker's folders are var/broker/ under this (config/settings.py).
            "PLATFORM_VAR_DIR": str(self.var_dir),
            "GRADER_HIDDEN_DIR": str(self.hidden_dir),
            "GRADER_BACKEND": "process",
            # Sandbox workspaces land in our temp dir, so a killed worker's leftovers go with it.
            "TMPDIR": str(self.root / "tmp"),
            "LOG_LEVEL": "WARNING",
            # The bench measures the platform, not the flood limits: lift the request rates.
            "API_RATE_USER": "1000000/min",
            "UPLOAD_RATE": "1000000/min",
            "ACCOUNT_RATE_ADDRESS": "1000000/m",  # every rehearsal person comes from 127.0.0.1
            **extra,
        }


def reset_database(name: str) -> None:
    """Drop and recreate the bench database (never a developer's: the name is ours)."""
    import psycopg

    if not name.startswith("bench"):
        raise ValueError(f"refusing to recreate {name!r}: bench databases start with 'bench'")
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(env: BenchEnv) -> None:
    """Configure this (driver) process like the site, then migrate the fresh database."""
    os.environ.update(env.process_env())
    for path in (str(REPO), str(PLATFORM)):
        if path not in sys.path:
            sys.path.insert(0, path)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)


def use_broker(url: str) -> None:
    """Point this process's Celery app at `url` (kombu caches producers per connection)."""
    from kombu import pools

    from config.celery import app

    app.conf.broker_url = url
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None


def _stop(process: subprocess.Popen, timeout_s: float = 20) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=timeout_s)


class RedisServer:
    """Our own redis-server without persistence: a restart is a broker that forgot its queue."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed")
        self.binary = binary
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def ping() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_until(ping, 10, "redis-server to start")

    def restart(self) -> None:
        self.stop()
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            _stop(self.process)
            self.process = None


class Worker:
    """One Celery worker process (-P solo: the task runs in the worker, as on a GPU machine)."""

    def __init__(
        self,
        env: BenchEnv,
        log_path: Path,
        visibility_timeout_s: int = 7200,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.name = f"bench-{uuid.uuid4().hex[:8]}"
        self.log_path = log_path
        self.log = log_path.open("ab")
        start = self.log.tell()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "site,cpu",
                "-P",
                "solo",
            ]
            + ["-n", f"{self.name}@%h", "--without-gossip", "--without-mingle", "-l", "INFO"],
            cwd=REPO,
            env=env.process_env(
                CELERY_VISIBILITY_TIMEOUT=str(visibility_timeout_s), **(extra_env or {})
            ),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._log_start = start

    def wait_ready(self, timeout_s: float = 60) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited early; see {self.log_path}")
            with self.log_path.open("rb") as f:
                f.seek(self._log_start)
                return b"ready." in f.read()

        wait_until(ready, timeout_s, "the Celery worker to be ready", poll_s=0.05)

    def kill(self) -> None:
        """SIGKILL: no chance to ack, requeue or clean up; what a crash or OOM kill does."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        try:
            _stop(self.process, timeout_s=30)
        finally:
            self.log.close()


class Gunicorn:
    def __init__(
        self,
        env: BenchEnv,
        log_path: Path,
        workers: int,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--chdir", str(PLATFORM), "config.wsgi"]
            + ["-w", str(workers), "-b", f"127.0.0.1:{self.port}", "--timeout", "60"]
            + ["--backlog", "2048"],
            cwd=REPO,
            # Links in the site's emails point at this site (extra_env: e.g. the mail sink's).
            env=env.process_env(SITE_URL=f"http://127.0.0.1:{self.port}", **(extra_env or {})),
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._answers, 60, "gunicorn to answer")

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError("gunicorn exited early")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            conn.request("GET", "/api/entries/0/")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        try:
            _stop(self.process, timeout_s=30)
        finally:
            self.log.close()


@dataclass
class Stack:
    """Everything started for one bench run; `close()` stops all of it, whatever failed."""

    env: BenchEnv
    redis: RedisServer | None = None
    site: Gunicorn | None = None
    workers: list[Worker] = field(default_factory=list)

    def workers_alive(self) -> int:
        return sum(1 for w in self.workers if w.process.poll() is None)

    def start_redis(self) -> RedisServer:
        self.redis = RedisServer(self.env.root)
        self.env.broker_url = self.redis.url
        os.environ["CELERY_BROKER_URL"] = self.redis.url
        use_broker(self.redis.url)
        return self.redis

    def start_site(self, workers: int = 4, extra_env: dict[str, str] | None = None) -> Gunicorn:
        self.site = Gunicorn(self.env, self.env.root / "gunicorn.log", workers, extra_env)
        return self.site

    def start_worker(
        self,
        visibility_timeout_s: int = 7200,
        wait: bool = True,
        extra_env: dict[str, str] | None = None,
    ) -> Worker:
        log = self.env.root / "worker.log"
        worker = Worker(self.env, log, visibility_timeout_s, extra_env)
        self.workers.append(worker)
        if wait:
            worker.wait_ready()
        return worker

    def stop_workers(self) -> None:
        errors: list[BaseException] = []
        while self.workers:
            try:
                self.workers.pop().stop()
            except BaseException as exc:  # noqa: BLE001 - stop the others first
                errors.append(exc)
        if errors:
            raise errors[0]

    def close(self) -> None:
        errors: list[BaseException] = []
        for stop in (self.stop_workers, self._stop_site, self._stop_redis):
            try:
                stop()
            except BaseException as exc:  # noqa: BLE001 - keep stopping the rest
                errors.append(exc)
        if errors:
            raise errors[0]

    def _stop_site(self) -> None:
        if self.site is not None:
            self.site.stop()
            self.site = None

    def _stop_redis(self) -> None:
        if self.redis is not None:
            self.redis.stop()
            self.redis = None
