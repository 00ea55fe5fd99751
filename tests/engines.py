"""Real engines a test needs: it skips without one, and fails in CI (REQUIRE_DOCKER=1)."""

import os

import docker
import pytest


def require_docker_engine() -> docker.DockerClient:
    try:
        client = docker.from_env(timeout=2)
        client.ping()
    except docker.errors.DockerException as error:
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"no Docker Engine ({error}) and REQUIRE_DOCKER=1")
        pytest.skip("no Docker Engine here")
    return client
