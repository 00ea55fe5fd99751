"""Two machines: the site, and a Celery worker that shares only the database and the broker.

The worker runs in its own folder (its own var/, media and hidden directory, which hold
neither the upload nor the set): it fetches both from the live site with the deployment's
worker token, grades, and notices a tampered cache.
"""

import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from factories import LabFactory
from hidden_sets import LAB, PERFECT, build_bundle, new_lab
from submissions import blobs
from submissions.models import GradingRun, Status
from submissions.services import intake, runs
from uploads import upload

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[3]
TOKEN = "worker-token-" + "k" * 32


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    user = s.get("USER") or "postgres"
    return f"postgres://{user}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


@pytest.fixture
def lab_specs(tmp_path, monkeypatch):
    """A lab made with `lab new`, in a specs folder both machines read."""
    specs = tmp_path / "specs"
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))
    new_lab(specs)
    return specs


@pytest.fixture
def machine_two(tmp_path, lab_specs, shared_redis, live_server):
    """Start the second machine's worker; yields its folder."""
    home = tmp_path / "machine-2"
    home.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
        "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": shared_redis,
        "PLATFORM_VAR_DIR": str(home / "var"),
        "MEDIA_ROOT": str(home / "media"),
        "GRADER_HIDDEN_DIR": str(home / "hidden"),
        "GRADER_BACKEND": "process",
        "PLATFORM_SITE_URL": live_server.url,
        "PLATFORM_WORKER_TOKEN": TOKEN,
        "GRADER_SPECS_DIR": str(lab_specs),
    }
    log = (tmp_path / "worker.log").open("ab")
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "cpu", "-P"]
    command += ["solo", "-n", f"machine2-{uuid.uuid4().hex[:6]}@%h", "--without-gossip"]
    command += ["--without-mingle", "-l", "INFO"]
    process = subprocess.Popen(command, cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield home
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
    log.close()


def _finished(run_id: int, log: Path, timeout: float = 120) -> GradingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = GradingRun.objects.get(pk=run_id)
        if run.status in (Status.SCORED, Status.FAILED, Status.ERROR, Status.REJECTED):
            return run
        time.sleep(0.3)
    pytest.fail(f"run {run_id} did not finish\n{log.read_text(errors='replace')[-3000:]}")


def _flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_worker_on_another_machine_grades_with_fetched_upload_and_set(
    settings, tmp_path, staff, enrolled, edition, client, machine_two
):
    settings.PLATFORM_WORKER_TOKEN = TOKEN
    settings.MEDIA_ROOT = tmp_path / "site-media"
    settings.GRADER_HIDDEN_DIR = tmp_path / "site-hidden"  # the site holds no hidden data

    # Staff upload the set on the site's staff page.
    client.force_login(staff)
    bundle = SimpleUploadedFile("set.zip", build_bundle(tmp_path))
    client.post("/staff/hidden-sets/", {"spec_id": LAB, "bundle": bundle})
    hidden_set = blobs.current_hidden_set(LAB)
    assert hidden_set is not None

    lab = LabFactory(edition=edition, spec_id=LAB, needs_writeup=False)
    entry = intake.entry_submit(user=enrolled, lab=lab, upload=upload(PERFECT))
    log = tmp_path / "worker.log"
    run = _finished(entry.runs.get().pk, log)
    assert run.status == Status.SCORED, run.reason or run.note
    assert run.metrics["accuracy"] == 1.0
    assert run.worker.startswith("machine2-")
    assert run.receipt["dataset_checksum"] == hidden_set.checksum
    assert run.receipt["dataset_verified"]

    # Nothing reached machine two through a shared folder: it holds no upload, only its cache.
    assert not list((machine_two / "media").rglob("*.py"))
    cache = machine_two / "var" / "worker-cache"
    cached_entry = cache / "blobs" / entry.sha256
    cached_labels = (
        cache / "sets" / hidden_set.bundle_sha256 / hidden_set.name / "labels/labels.npz"
    )
    assert _sha(cached_entry) == entry.sha256
    good_labels = cached_labels.read_bytes()

    # Someone tampers with machine two's cache: both are noticed and fetched again.
    _flip_a_byte(cached_entry)
    _flip_a_byte(cached_labels)
    regrade = runs.entry_regrade(entry=entry, by=staff)
    run = _finished(regrade.pk, log)
    assert run.status == Status.SCORED, run.reason or run.note
    assert run.metrics["accuracy"] == 1.0
    assert _sha(cached_entry) == entry.sha256
    assert cached_labels.read_bytes() == good_labels

    # A new version of the set: the worker picks it up by its checksum.
    newer = SimpleUploadedFile("set2.zip", build_bundle(tmp_path, n=60))
    client.post("/staff/hidden-sets/", {"spec_id": LAB, "bundle": newer})
    latest = blobs.current_hidden_set(LAB)
    assert latest.checksum != hidden_set.checksum
    run = _finished(runs.entry_regrade(entry=entry, by=staff).pk, log)
    assert run.status == Status.SCORED and run.receipt["dataset_checksum"] == latest.checksum
