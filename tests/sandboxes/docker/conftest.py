"""Fixtures for the Docker sandbox tests: a real Docker Engine and the built CPU image.

Without an engine or the image these tests skip, unless REQUIRE_DOCKER=1 (CI), where they
fail: scripts/ci_docker.sh starts dockerd and builds the image first.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.grader import synth

IMAGE = os.environ.get("GRADER_DOCKER_IMAGE", "labgrader-sandbox:cpu")
LABEL = "labgrader.sandbox"
PERFECT_MNIST = """
import numpy as np
def predict(x):
    return np.eye(10, dtype=np.float32)[(np.rint(x[:, 0, 0, 0] * 10)).astype(int)]
"""


def _unavailable(why: str) -> None:
    if os.environ.get("REQUIRE_DOCKER") == "1":
        pytest.fail(f"REQUIRE_DOCKER=1 but {why} (run scripts/ci_docker.sh)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def docker_client():
    try:
        import docker
        from docker.errors import DockerException, ImageNotFound
    except ImportError:
        _unavailable("the docker SDK is not installed")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except DockerException as exc:
        _unavailable(f"no Docker Engine is reachable ({exc})")
    try:
        client.images.get(IMAGE)
    except ImageNotFound:
        _unavailable(f"the sandbox image {IMAGE} is not built (scripts/build_sandbox_images.sh)")
    return client


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("docker-state")
    old = os.environ.get("GRADER_DOCKER_STATE_DIR")
    os.environ["GRADER_DOCKER_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("GRADER_DOCKER_STATE_DIR", None)
    else:
        os.environ["GRADER_DOCKER_STATE_DIR"] = old


@pytest.fixture(scope="session")
def docker_hidden(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    hidden = tmp_path_factory.mktemp("hidden")
    return hidden, synth.build_all(hidden)


@pytest.fixture(scope="session")
def spec_dirs(tmp_path_factory: pytest.TempPathFactory, docker_hidden) -> dict[str, Path]:
    # Tight limits trip the hostile entries fast; roomy ones leave TensorFlow room to start.
    sums = docker_hidden[1]
    return {
        "tight": synth.write_specs(
            tmp_path_factory.mktemp("tight"), sums, wall_time_s=6, memory_mb=512, output_mb=16
        ),
        "roomy": synth.write_specs(
            tmp_path_factory.mktemp("roomy"), sums, wall_time_s=60, memory_mb=2048, output_mb=16
        ),
    }


@pytest.fixture
def grade_docker(
    docker_client, state_dir, docker_hidden, spec_dirs, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., object]:
    """grade_docker(lab_id, entry_path, limits="tight", **request) through the pipeline."""
    from grader.pipeline import GradeRequest, grade

    def run(lab_id: str, entry: Path, limits: str = "tight", **kwargs):
        monkeypatch.setenv("GRADER_SPECS_DIR", str(spec_dirs[limits]))
        kwargs.setdefault("hidden_dir", docker_hidden[0])
        return grade(GradeRequest(lab_id=lab_id, entry_path=entry, backend="docker", **kwargs))

    return run


@pytest.fixture
def no_leftovers(docker_client, grade_docker, tmp_path: Path) -> Callable[[], None]:
    """Call at the end of a hostile test: nothing is left and the next entry grades normally."""

    # Only this test process's sandboxes: another test run may share the engine.
    mine = {"label": [LABEL, f"labgrader.owner={socket.gethostname()}:{os.getpid()}"]}

    def check() -> None:
        left = docker_client.containers.list(all=True, filters=mine)
        assert left == [], f"sandbox containers left behind: {[c.short_id for c in left]}"
        entry = synth.write_entry(tmp_path / "baseline", PERFECT_MNIST)
        report = grade_docker("lab2-mnist", entry)
        assert report.status == "scored", report.reason
        assert report.metrics == {"accuracy": 1.0}
        assert docker_client.containers.list(all=True, filters=mine) == []

    return check
