"""The Docker backend's own behaviour on a real engine: sessions, cancelling, reaping."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from grader.errors import GradingCancelled
from tests.grader import synth
from tests.sandboxes.docker.conftest import IMAGE

pytestmark = [pytest.mark.docker]
LABEL = "labgrader.sandbox"

BALANCE = """
import numpy as np
def act(obs):
    return int(obs[2] + 0.5 * obs[3] > 0)
"""


def test_interactive_policy_over_the_attach_socket(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab3-cartpole", synth.write_entry(tmp_path / "p", BALANCE))
    assert report.status == "scored", report.reason
    assert report.metrics["episodes"] == 4 and report.metrics["mean_return"] > 100
    assert report.receipt.backend == "docker"
    no_leftovers()


def test_interactive_policy_that_hangs_is_stopped(grade_docker, no_leftovers, tmp_path):
    source = "import time\ndef act(obs):\n    time.sleep(10**6)\n"
    report = grade_docker("lab3-cartpole", synth.write_entry(tmp_path / "p", source))
    assert report.status in {"timeout", "failed"}, report.reason
    no_leftovers()


def test_cancel_kills_and_removes_the_container(grade_docker, no_leftovers, tmp_path):
    source = "import time\ndef predict(x):\n    time.sleep(10**6)\n"
    t0 = time.monotonic()
    with pytest.raises(GradingCancelled):
        grade_docker(
            "lab2-mnist",
            synth.write_entry(tmp_path / "e", source),
            cancel=lambda: time.monotonic() - t0 > 1.5,
        )
    assert time.monotonic() - t0 < 5
    no_leftovers()


def test_reap_orphans_removes_a_dead_workers_containers(
    docker_client, state_dir: Path, tmp_path: Path
):
    from grader.sandbox import Job, SandboxLimits
    from grader.sandbox.docker import OWNER_LABEL, create_sandbox, reap_orphans, sandbox_config

    image = docker_client.images.get(IMAGE).id
    job = Job(
        command=("python", "-c", "import time; time.sleep(600)"),
        mounts={},
        output_dir=tmp_path / "out",
        limits=SandboxLimits(wall_time_s=600, memory_mb=128),
    )
    (tmp_path / "o").mkdir()
    config = sandbox_config(job, image, "orphan-test", tmp_path / "o")
    # A worker that died: a pid that cannot exist on this host.
    config["labels"][OWNER_LABEL] = config["labels"][OWNER_LABEL].rsplit(":", 1)[0] + ":999999999"
    container = create_sandbox(docker_client, config)
    container.start()
    assert (state_dir / "orphan-test.json").exists()
    # Other test runs may share this engine: look only at this test's container.
    live = docker_client.containers.list(all=True, filters={"label": LABEL})
    assert container.id in [c.id for c in live]

    removed = reap_orphans(docker_client)
    assert container.id in removed
    remaining = docker_client.containers.list(all=True, filters={"label": LABEL})
    assert container.id not in [c.id for c in remaining]
    assert not (state_dir / "orphan-test.json").exists()


def test_reap_orphans_spares_a_live_workers_container(docker_client, tmp_path: Path):
    from grader.sandbox import Job, SandboxLimits
    from grader.sandbox.docker import create_sandbox, reap_orphans, sandbox_config

    image = docker_client.images.get(IMAGE).id
    job = Job(
        command=("python", "-c", "pass"),
        mounts={},
        output_dir=tmp_path / "out",
        limits=SandboxLimits(wall_time_s=60, memory_mb=128),
    )
    (tmp_path / "o").mkdir()
    container = create_sandbox(docker_client, sandbox_config(job, image, "live", tmp_path / "o"))
    try:
        assert container.id not in reap_orphans(docker_client)  # its owner is this process
        # Still there, and found by the filter the other tests use to look for leftovers.
        mine = {"label": [LABEL, f"labgrader.owner={socket.gethostname()}:{os.getpid()}"]}
        assert [c.id for c in docker_client.containers.list(all=True, filters=mine)] == [
            container.id
        ]
    finally:
        assert container.id in reap_orphans(docker_client, everything=True)
