"""A real Celery worker and a real Redis broker: uploads flow to results, a SIGKILLed worker
or a broker that forgets its queue loses nothing, and nothing is recorded twice. The embedded
default broker (`filesystem://`) holds a burst of parallel uploads."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.db import connection, connections
from django.utils import timezone

from celery_helpers import use_broker
from config.celery import app
from factories import LabFactory
from leaderboards.models import BoardRow, BoardState
from submissions.models import GradingRun, RunEvent, Status
from submissions.services import intake, reaper
from uploads import LEFT, upload

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[3]
# Sleeps at start-up so a test can kill the worker while the run is in flight.
SLOW_START = b"import time\ntime.sleep(4)\n\ndef act(observation):\n    return 0\n"


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


class Worker:
    def __init__(
        self, broker_url: str, settings, log_path: Path, queues: str = "cpu", **extra_env: str
    ) -> None:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
            "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker_url,
            "CELERY_VISIBILITY_TIMEOUT": "5",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "GRADER_HIDDEN_DIR": str(settings.GRADER_HIDDEN_DIR),
            "GRADER_BACKEND": "process",
            **extra_env,
        }
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queues,
                "-P",
                "solo",
                "-n",
                f"test-{uuid.uuid4().hex[:8]}@%h",
                "--without-gossip",
                "--without-mingle",
                "-l",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture
def grading(settings, tmp_path, hidden_dir):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_HIDDEN_DIR = hidden_dir
    settings.GRADER_BACKEND = "process"


@pytest.fixture
def start_worker(settings, tmp_path):
    workers: list[Worker] = []

    def start(broker_url: str, queues: str = "cpu", **extra_env: str) -> Worker:
        worker = Worker(broker_url, settings, tmp_path / "worker.log", queues, **extra_env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


def _wait_for(predicate, timeout: float, what: str, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}\n{tail}")


def _status(run_id: int) -> str:
    return GradingRun.objects.get(pk=run_id).status


def _scored_once(run_id: int) -> None:
    run = GradingRun.objects.get(pk=run_id)
    assert run.status == Status.SCORED, run.reason
    assert 8 <= run.metrics["mean_return"] <= 11
    assert RunEvent.objects.filter(run=run, to_status=Status.SCORED).count() == 1


def test_an_upload_is_graded_by_a_real_worker(
    grading, shared_redis, start_worker, enrolled, cartpole, tmp_path
):
    worker = start_worker(shared_redis)
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT))
    run_id = entry.runs.get().pk
    _wait_for(lambda: _status(run_id) in Status.SCORED, 90, "a result", tmp_path / "worker.log")
    _scored_once(run_id)
    assert GradingRun.objects.get(pk=run_id).worker.startswith("test-")
    assert worker.process.poll() is None


def test_the_board_follows_a_run_graded_by_a_real_worker(
    grading, shared_redis, start_worker, enrolled, cartpole, tmp_path
):
    # The grading worker records the run; the site worker (its own queue, never behind a
    # grading run) ranks the lab again after the commit.
    start_worker(shared_redis, "cpu")
    start_worker(shared_redis, "site")
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT))
    run_id = entry.runs.get().pk
    _wait_for(lambda: _status(run_id) == Status.SCORED, 90, "a result", tmp_path / "worker.log")
    row = _wait_for(
        lambda: BoardRow.objects.filter(lab=cartpole, split="public", user=enrolled).first(),
        30,
        "the board to show the run",
        tmp_path / "worker.log",
    )
    assert row.rank == 1 and row.entry_id == entry.pk
    state = BoardState.objects.get(lab=cartpole)
    assert state.built_at is not None and state.requested_at is None


def test_a_worker_killed_mid_run_leads_to_exactly_one_result(
    grading, shared_redis, start_worker, enrolled, cartpole, tmp_path
):
    first = start_worker(shared_redis)
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(SLOW_START))
    run_id = entry.runs.get().pk
    _wait_for(
        lambda: _status(run_id) == Status.RUNNING, 60, "the run to start", tmp_path / "worker.log"
    )
    first.kill()
    assert _status(run_id) == Status.RUNNING  # stranded: nobody will finish it

    # The periodic reaper notices the silent heartbeat and re-queues the run.
    later = timezone.now() + reaper.HEARTBEAT_STALE + timedelta(seconds=1)
    assert reaper.runs_reap(now=later)["requeued"] == 1
    start_worker(shared_redis)
    _wait_for(lambda: _status(run_id) == Status.SCORED, 90, "the re-run", tmp_path / "worker.log")
    # The killed delivery's message comes back too (visibility timeout 5 s); it must find
    # the run finished and record nothing.
    time.sleep(8)
    _scored_once(run_id)
    run = GradingRun.objects.get(pk=run_id)
    assert run.deliveries == 2
    statuses = list(RunEvent.objects.filter(run=run).values_list("to_status", flat=True))
    assert statuses == ["queued", "running", "queued", "running", "scoring", "scored"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int, workdir: Path) -> subprocess.Popen:
    server = shutil.which("redis-server")
    if server is None:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail("redis-server is not installed and REQUIRE_SERVICES=1")
        pytest.skip("redis-server is not installed")
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port, socket_connect_timeout=1)
    _wait_for(lambda: _ping(client), 10, "redis-server to start")
    return process


def _ping(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_broker_restart_loses_nothing(grading, start_worker, enrolled, cartpole, tmp_path):
    port = _free_port()
    url = f"redis://127.0.0.1:{port}/0"
    broker = _start_redis(port, tmp_path)
    try:
        use_broker(url)
        run_ids = [
            intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT)).runs.get().pk
            for _ in range(3)
        ]
        assert redis.Redis(port=port).llen("cpu") == 3
        # The broker restarts without persistence: every queued message is gone.
        broker.terminate()
        broker.wait(timeout=30)
        broker = _start_redis(port, tmp_path)
        assert redis.Redis(port=port).llen("cpu") == 0
        use_broker(url)
        start_worker(url)
        time.sleep(3)
        assert all(_status(run_id) == Status.QUEUED for run_id in run_ids)

        # The database still knows them: the reaper rings the doorbell again.
        later = timezone.now() + reaper.REDELIVER_QUEUED_AFTER * 2
        assert reaper.runs_reap(now=later)["reenqueued"] == 3
        for run_id in run_ids:
            _wait_for(
                lambda r=run_id: _status(r) == Status.SCORED,
                90,
                f"run {run_id}",
                tmp_path / "worker.log",
            )
            _scored_once(run_id)
    finally:
        broker.terminate()
        broker.wait(timeout=30)


@pytest.fixture
def embedded_broker(tmp_path):
    """The embedded default broker (`filesystem://`) in a folder of this test's own: what
    the site publishes here, a worker started with PLATFORM_VAR_DIR=<var> consumes."""
    var = tmp_path / "var"
    folders = {name: var / "broker" / name for name in ("queue", "processed", "control")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    before = (app.conf.broker_url, app.conf.broker_transport_options)
    app.conf.broker_transport_options = {
        "data_folder_in": str(folders["queue"]),
        "data_folder_out": str(folders["queue"]),
        "processed_folder": str(folders["processed"]),
        "control_folder": str(folders["control"]),
        "store_processed": False,
    }
    use_broker("filesystem://")
    yield var
    app.conf.broker_transport_options = before[1]
    use_broker(before[0])


def test_a_burst_of_uploads_on_the_embedded_broker_is_all_graded(
    grading, embedded_broker, start_worker, enrolled, edition, tmp_path
):
    lab = LabFactory(
        edition=edition,
        spec_id="lab3-cartpole",
        opens_at=timezone.now() - timedelta(days=1),
        closes_at=timezone.now() + timedelta(days=1),
        needs_writeup=False,
        max_entries_per_day=100,
        max_entries_total=100,
    )
    # The demo's worker: every queue, the site's included (leaderboard refreshes).
    worker = start_worker("filesystem://", "site,cpu,gpu", PLATFORM_VAR_DIR=str(embedded_broker))
    run_ids: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def uploads() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(4):
                entry = intake.entry_submit(user=enrolled, lab=lab, upload=upload(LEFT))
                run_ids.append(entry.runs.get().pk)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=uploads) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and len(run_ids) == 32
    log = tmp_path / "worker.log"
    _wait_for(
        lambda: GradingRun.objects.filter(pk__in=run_ids, status=Status.SCORED).count() == 32,
        240,
        "every run of the burst to be scored",
        log,
    )
    assert worker.process.poll() is None, log.read_text(errors="replace")[-3000:]
    assert "JSONDecodeError" not in log.read_text(errors="replace")
    assert list((embedded_broker / "broker" / "queue").glob("*.msg")) == []
