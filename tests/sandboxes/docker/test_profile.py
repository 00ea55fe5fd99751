"""The hardened profile, checked on the kwargs the backend passes to containers.create.

No Docker Engine is needed: a stand-in client records the call and refuses to create. A test
run on a real engine (test_hostile.py::test_profile_is_applied_inside_the_sandbox) checks the
same profile from inside a running sandbox.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from docker.errors import DockerException
from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from grader.errors import PlatformError
from grader.sandbox import Job, SandboxLimits
from grader.sandbox.docker import LABEL, OWNER_LABEL, DockerBackend
from grader.sandbox.gpu import GpuPool

IMAGE_ID = "sha256:" + "ab" * 32


class _Images:
    def get(self, tag: str) -> Any:
        return type("Image", (), {"id": IMAGE_ID})()


class _Containers:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    def list(self, **kwargs: Any) -> list[Any]:
        return []

    def create(self, **kwargs: Any) -> Any:
        self.created.append(kwargs)
        raise DockerException("stand-in client: nothing is created")


class _Api:
    def inspect_image(self, image: str) -> dict[str, Any]:
        return {"Id": IMAGE_ID, "RepoDigests": []}


class FakeClient:
    def __init__(self) -> None:
        self.containers = _Containers()
        self.images = _Images()
        self.api = _Api()

    def ping(self) -> bool:
        return True


def _created(tmp_path: Path, monkeypatch, gpu: bool = False, command: str = "batch") -> dict:
    monkeypatch.setenv("GRADER_DOCKER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "host-secret")
    entry, inputs = tmp_path / "entry", tmp_path / "hidden" / "set" / "inputs"
    entry.mkdir(parents=True)
    inputs.mkdir(parents=True)
    job = Job(
        command=("python", "-m", "harness", command, "--kind", "code"),
        mounts={"entry": entry, "inputs": inputs},
        output_dir=tmp_path / "out",
        limits=SandboxLimits(wall_time_s=30, memory_mb=700, cpus=2, gpu=gpu, output_mb=8),
        env={"GRADER_TASK": "classification"},
        deny_paths=(tmp_path / "hidden",),
    )
    client = FakeClient()
    pool = GpuPool(["GPU-aaaa", "GPU-bbbb"], nvidia_smi=("false",), status_path=tmp_path / "g")
    backend = DockerBackend(client=client, gpus=pool)  # type: ignore[arg-type]
    with pytest.raises(PlatformError, match="could not be created"):
        if command == "interactive":
            backend.start_session(job)
        else:
            backend.run(job)
    assert len(client.containers.created) == 1
    assert pool._busy == set()  # the GPU went back when creation failed
    assert backend.image_digest == f"labgrader-sandbox:cpu@{IMAGE_ID}" or gpu
    return client.containers.created[0]


def test_every_flag_of_the_hardened_profile(tmp_path, monkeypatch):
    kw = _created(tmp_path, monkeypatch)
    assert kw["image"] == IMAGE_ID  # pinned by digest, not by tag
    assert kw["network_mode"] == "none"
    assert kw["user"] == "65534:65534"
    assert kw["read_only"] is True
    tmp_opts = kw["tmpfs"]["/tmp"].split(",")
    assert "noexec" in tmp_opts and "nosuid" in tmp_opts and "size=175m" in tmp_opts
    assert kw["cap_drop"] == ["ALL"] and not kw.get("cap_add")
    assert kw["security_opt"] == ["no-new-privileges:true"]  # and no seccomp=unconfined
    assert kw["privileged"] is False
    assert kw["pids_limit"] == 1024
    assert kw["mem_limit"] == kw["memswap_limit"] == "700m"
    assert kw["nano_cpus"] == 2_000_000_000
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in kw["ulimits"]}
    assert all(isinstance(u, Ulimit) for u in kw["ulimits"])
    assert ulimits == {"nofile": (512, 512), "fsize": (8 << 20, 8 << 20), "core": (0, 0)}
    assert kw["ipc_mode"] == "private"
    assert kw["init"] is True
    log = kw["log_config"]
    assert isinstance(log, LogConfig) and log.type == "json-file"
    assert log.config == {"max-size": "1m", "max-file": "1"}
    assert kw["use_config_proxy"] is False
    assert "device_requests" not in kw and "devices" not in kw and "volumes" not in kw
    for key in ("pid_mode", "userns_mode", "uts_mode", "volumes_from", "cgroup_parent"):
        assert key not in kw
    assert kw["labels"][LABEL] and kw["labels"][OWNER_LABEL].endswith(f":{os.getpid()}")


def test_only_the_job_mounts_read_only_and_one_small_output(tmp_path, monkeypatch):
    kw = _created(tmp_path, monkeypatch)
    mounts = {m["Target"]: m for m in kw["mounts"]}
    assert all(isinstance(m, Mount) and m["Type"] == "bind" for m in kw["mounts"])
    assert set(mounts) == {"/sandbox/entry", "/sandbox/inputs", "/sandbox/out"}
    assert mounts["/sandbox/entry"]["ReadOnly"] and mounts["/sandbox/inputs"]["ReadOnly"]
    assert mounts["/sandbox/entry"]["Source"] == str(tmp_path / "entry")
    assert not mounts["/sandbox/out"]["ReadOnly"]
    assert mounts["/sandbox/out"]["Source"] != str(tmp_path / "out")  # staged, copied after
    assert not any("docker.sock" in m["Source"] for m in kw["mounts"])


def test_environment_is_an_allow_list(tmp_path, monkeypatch):
    env = _created(tmp_path, monkeypatch)["environment"]
    assert "AWS_SECRET_ACCESS_KEY" not in env and "host-secret" not in env.values()
    assert env["SANDBOX_ENTRY"] == "/sandbox/entry" and env["SANDBOX_OUT"] == "/sandbox/out"
    assert env["GRADER_TASK"] == "classification"
    assert env["CUDA_VISIBLE_DEVICES"] == "" and env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["HOME"] == "/tmp" and env["PYTHONNOUSERSITE"] == "1"


def test_gpu_job_gets_exactly_one_gpu_by_uuid(tmp_path, monkeypatch):
    kw = _created(tmp_path, monkeypatch, gpu=True)
    (request,) = kw["device_requests"]
    assert isinstance(request, DeviceRequest)
    assert request.device_ids == ["GPU-aaaa"] and request.capabilities == [["gpu"]]
    assert request.count in (None, 0)  # never "all" (-1)
    assert kw["environment"]["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert kw["environment"]["CUDA_VISIBLE_DEVICES"] == "0"


def test_interactive_sessions_use_the_same_profile(tmp_path, monkeypatch):
    batch = _created(tmp_path / "a", monkeypatch)
    session = _created(tmp_path / "b", monkeypatch, command="interactive")
    assert session["stdin_open"] is True and session["detach"] is False
    same = {k for k in batch if k not in {"name", "labels", "mounts", "command", "environment"}}
    differ = {k for k in same if batch[k] != session[k]}
    assert differ == {"stdin_open", "detach", "log_config"}, differ
    # A session's stdout carries protocol frames: Docker must not log them (the entry's
    # stderr is read from the attach stream instead).
    assert session["log_config"].type == "none"


def test_a_mount_exposing_the_hidden_data_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADER_DOCKER_STATE_DIR", str(tmp_path / "state"))
    hidden = tmp_path / "hidden"
    (hidden / "labels").mkdir(parents=True)
    job = Job(
        command=("python", "-c", "pass"),
        mounts={"inputs": hidden},
        output_dir=tmp_path / "out",
        limits=SandboxLimits(wall_time_s=5, memory_mb=100),
        deny_paths=(hidden / "labels",),
    )
    client = FakeClient()
    backend = DockerBackend(client=client)  # type: ignore[arg-type]
    with pytest.raises(PlatformError, match="denied path"):
        backend.run(job)
    assert client.containers.created == []
