"""GPU assignment and the out-of-service check, WITHOUT a GPU: nvidia-smi is a fake script.

The fake prints what `nvidia-smi --query-compute-apps=gpu_uuid,pid --format=csv,noheader`
prints on a real machine, from a file the test writes. These tests check the worker's logic
only; on a GPU machine the same code calls the real nvidia-smi.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from grader.errors import PlatformError
from grader.sandbox.gpu import (
    GpuPool,
    configured_gpus,
    device_request,
    gpu_status,
    return_to_service,
)

A, B = "GPU-11111111-aaaa", "GPU-22222222-bbbb"


def fake_nvidia_smi(tmp_path: Path, apps: str = "", exit_code: int = 0) -> tuple[str, Path]:
    """A stand-in nvidia-smi; write the compute apps it reports into the returned file."""
    listing = tmp_path / "apps.csv"
    listing.write_text(apps)
    script = tmp_path / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = "--query-compute-apps=gpu_uuid,pid" ] || exit 9\n'
        f"cat {listing}\nexit {exit_code}\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script), listing


def pool(tmp_path: Path, script: str, uuids: list[str] | None = None) -> GpuPool:
    return GpuPool(
        uuids or [A, B],
        nvidia_smi=(script,),
        status_path=tmp_path / "gpu-status.json",
        settle_s=0.2,
        sleep=lambda s: None,
    )


def test_gpus_come_from_the_worker_config(monkeypatch):
    monkeypatch.setenv("GRADER_GPUS", f" {A}, {B} ,")
    assert configured_gpus() == [A, B]
    assert GpuPool().uuids == [A, B]


def test_device_request_is_one_uuid_never_all():
    assert device_request(A) == {"device_ids": [A], "capabilities": [["gpu"]]}
    for bad in ("all", "ALL", "", f"{A},{B}"):
        with pytest.raises(PlatformError):
            device_request(bad)


def test_one_job_per_gpu(tmp_path):
    script, _ = fake_nvidia_smi(tmp_path)
    p = pool(tmp_path, script)
    assert p.acquire() == A and p.acquire() == B
    with pytest.raises(PlatformError, match="free"):
        p.acquire()
    p.release(A, killed=False)
    assert p.acquire() == A


def test_clean_gpu_after_a_kill_goes_back_into_service(tmp_path):
    script, _ = fake_nvidia_smi(tmp_path, f"{B}, 4242\n")  # the other GPU is busy: irrelevant
    p = pool(tmp_path, script)
    gpu = p.acquire()
    p.release(gpu, killed=True)
    assert gpu_status(p.status_path) == {}
    assert p.acquire() == A


def test_gpu_still_holding_a_process_after_a_kill_is_taken_out(tmp_path, caplog):
    script, listing = fake_nvidia_smi(tmp_path, f"{A}, 4242\n")
    p = pool(tmp_path, script)
    assert p.acquire() == A
    p.release(A, killed=True)
    status = gpu_status(p.status_path)
    assert status[A]["in_service"] is False and "4242" in str(status[A]["reason"])
    assert "taken out of service" in caplog.text
    assert p.acquire() == B  # A is skipped from now on
    with pytest.raises(PlatformError):
        p.acquire()
    # Staff clear it once the GPU is clean again.
    listing.write_text("")
    return_to_service(A, p.status_path)
    p.release(B, killed=False)
    assert p.acquire() == A


def test_nvidia_smi_failing_counts_as_not_clean(tmp_path):
    script, _ = fake_nvidia_smi(tmp_path, "", exit_code=3)
    p = pool(tmp_path, script, [A])
    p.acquire()
    p.release(A, killed=True)
    assert gpu_status(p.status_path)[A]["in_service"] is False


def test_no_check_without_a_kill(tmp_path):
    script, _ = fake_nvidia_smi(tmp_path, f"{A}, 1\n")
    p = pool(tmp_path, script, [A])
    p.acquire()
    p.release(A, killed=False)  # a job that ended by itself is not checked
    assert gpu_status(p.status_path) == {}


def test_no_gpu_configured_is_a_platform_error(tmp_path):
    script, _ = fake_nvidia_smi(tmp_path)
    with pytest.raises(PlatformError, match="GRADER_GPUS"):
        GpuPool([], nvidia_smi=(script,), status_path=tmp_path / "s.json").acquire()
