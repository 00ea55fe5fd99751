from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from health.models import WorkerHeartbeat
from health.services import broker_status, sandbox_backend_status, worker_heartbeat_beat


@pytest.mark.django_db
def test_health_reports_each_part(client):
    response = client.get("/health/")
    body = response.json()
    assert set(body["checks"]) == {"database", "broker", "workers", "sandbox"}
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    # No worker has reported: the site is usable but grading is not.
    assert body["checks"]["workers"] == {"ok": False, "site_queue": False, "alive": []}
    assert body["status"] == "degraded"
    assert response.status_code == 200
    assert body["checks"]["sandbox"]["isolation"].startswith("process (bubblewrap: ")


@pytest.mark.django_db
def test_live_worker_makes_health_ok_and_stale_worker_does_not(client):
    worker_heartbeat_beat(hostname="celery@gpu-0", queues="gpu")
    body = client.get("/health/").json()
    # Grading goes on, but nothing consumes the site queue: the boards would stand still.
    assert body["status"] == "degraded" and body["checks"]["workers"]["site_queue"] is False
    worker_heartbeat_beat(hostname="celery@site", queues="site")
    body = client.get("/health/").json()
    assert body["status"] == "ok"
    assert {w["hostname"] for w in body["checks"]["workers"]["alive"]} == {
        "celery@gpu-0",
        "celery@site",
    }
    WorkerHeartbeat.objects.update(last_seen=timezone.now() - timedelta(minutes=5))
    assert client.get("/health/").json()["checks"]["workers"]["ok"] is False
    worker_heartbeat_beat(hostname="celery@gpu-0", queues="gpu", stopped=True)
    assert client.get("/health/").json()["checks"]["workers"]["ok"] is False


@pytest.mark.django_db
def test_unreachable_broker_makes_health_down(client, monkeypatch):
    monkeypatch.setitem(app.conf, "broker_url", "redis://127.0.0.1:1/0")
    status = broker_status()
    assert status["ok"] is False and status["error"]
    response = client.get("/health/")
    assert response.status_code == 503
    assert response.json()["status"] == "down"


def test_docker_backend_without_engine_is_reported(settings, monkeypatch):
    settings.GRADER_BACKEND = "docker"
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    status = sandbox_backend_status()
    assert status["ok"] is False
    assert "Docker Engine not answering" in status["error"]


def test_docker_backend_reports_gpus_taken_out_of_service(settings, monkeypatch, tmp_path):
    from engines import require_docker_engine
    from grader.sandbox import gpu

    require_docker_engine()
    # No GPU here: the out-of-service records are written as the GPU pool would write them.
    monkeypatch.setattr(gpu, "state_dir", lambda: tmp_path)
    settings.GRADER_BACKEND = "docker"
    settings.GRADER_GPUS = ["GPU-aaa", "GPU-bbb"]
    assert sandbox_backend_status()["gpus_out_of_service"] == {}
    gpu._write_status(tmp_path / gpu.STATUS_FILE, {"GPU-aaa": {"in_service": False, "reason": "x"}})
    status = sandbox_backend_status()
    assert set(status["gpus_out_of_service"]) == {"GPU-aaa"} and status["ok"] is True
    gpu._write_status(
        tmp_path / gpu.STATUS_FILE,
        {u: {"in_service": False, "reason": "x"} for u in ("GPU-aaa", "GPU-bbb")},
    )
    assert sandbox_backend_status()["ok"] is False


@pytest.mark.django_db
def test_process_backend_that_cannot_isolate_is_reported_with_its_reason(
    client, settings, monkeypatch, tmp_path
):
    # Issue 15, item 7: no quiet fallback; /health/ says why the process sandbox refuses.
    from grader.sandbox import process

    settings.GRADER_BACKEND = "process"
    monkeypatch.setattr(process, "_ISOLATION", None)
    monkeypatch.setattr(process, "BWRAP", str(tmp_path / "no-bwrap"))
    body = client.get("/health/").json()
    sandbox = body["checks"]["sandbox"]
    assert sandbox["ok"] is False and "bubblewrap" in sandbox["error"]
    assert body["status"] == "degraded"


@pytest.mark.django_db
def test_a_worker_reports_its_sandbox_isolation_in_full(client):
    # The process sandbox's own description is longer than 64 characters; it was cut.
    worker_heartbeat_beat(hostname="celery@cpu-0", queues="cpu,site")
    alive = client.get("/health/").json()["checks"]["workers"]["alive"]
    assert alive[0]["isolation"] == sandbox_backend_status()["isolation"]
    assert alive[0]["isolation"].endswith("private /tmp and /dev/shm)")


@pytest.mark.django_db
def test_a_worker_that_starts_again_shows_its_restarts(client):
    worker_heartbeat_beat(hostname="celery@demo", queues="site,cpu", started=True)
    worker_heartbeat_beat(hostname="celery@demo", queues="site,cpu")
    (first,) = client.get("/health/").json()["checks"]["workers"]["alive"]
    assert first["restarts"] == 0
    # The worker died and came back (a supervisor restarted it) under the same name.
    WorkerHeartbeat.objects.update(started_at=timezone.now() - timedelta(minutes=5))
    worker_heartbeat_beat(hostname="celery@demo", queues="site,cpu", started=True)
    (again,) = client.get("/health/").json()["checks"]["workers"]["alive"]
    assert again["restarts"] == 1
    assert again["started_at"] > first["started_at"]
