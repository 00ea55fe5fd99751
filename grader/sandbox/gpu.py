"""GPU assignment for the Docker backend: one GPU per job, never "all".

Deployment: one Celery worker process per GPU, each started with `GRADER_GPUS=<its GPU UUID>`
(comma-separated UUIDs are accepted, for a worker that owns several GPUs and runs one job at a
time on each). A job gets exactly one UUID, passed to Docker as a device request.

A killed job can leave a CUDA context behind (a zombie process, a hung driver call). Before a
GPU is used again after a kill, `nvidia-smi --query-compute-apps` must show no process on it;
otherwise the GPU is taken out of service: logged, and written to a status file that the
health page reads (`gpu_status()`), until staff put it back (`return_to_service`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from grader.errors import PlatformError

log = logging.getLogger(__name__)

NVIDIA_SMI = ("nvidia-smi",)
QUERY = ("--query-compute-apps=gpu_uuid,pid", "--format=csv,noheader")
STATUS_FILE = "gpu-status.json"


def state_dir() -> Path:
    return Path(
        os.environ.get("GRADER_DOCKER_STATE_DIR")
        or Path(tempfile.gettempdir()) / "labgrader-sandboxes"
    )


def configured_gpus() -> list[str]:
    return [g.strip() for g in os.environ.get("GRADER_GPUS", "").split(",") if g.strip()]


def device_request(uuid: str) -> dict[str, object]:
    """The docker.types.DeviceRequest arguments for exactly this one GPU."""
    if not uuid or uuid.lower() == "all" or "," in uuid:
        raise PlatformError(f"a sandbox gets exactly one GPU by UUID, not {uuid!r}")
    return {"device_ids": [uuid], "capabilities": [["gpu"]]}


class GpuPool:
    """The GPUs this worker may use, which are in service, and which are busy."""

    def __init__(
        self,
        uuids: Sequence[str] | None = None,
        nvidia_smi: Sequence[str] = NVIDIA_SMI,
        status_path: Path | None = None,
        settle_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.uuids = list(configured_gpus() if uuids is None else uuids)
        self.nvidia_smi = tuple(nvidia_smi)
        self.status_path = status_path or state_dir() / STATUS_FILE
        self.settle_s = settle_s
        self.sleep = sleep
        self._busy: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self) -> str:
        with self._lock:
            out = self._out_of_service()
            for uuid in self.uuids:
                if uuid not in out and uuid not in self._busy:
                    self._busy.add(uuid)
                    return uuid
        if not self.uuids:
            raise PlatformError("this lab needs a GPU but GRADER_GPUS lists none on this worker")
        raise PlatformError("no GPU of this worker is free and in service")

    def release(self, uuid: str, killed: bool) -> None:
        """Give the GPU back; after a kill, only once it is seen to hold no process."""
        try:
            if killed:
                self.check_idle(uuid)
        finally:
            with self._lock:
                self._busy.discard(uuid)

    def compute_apps(self) -> list[tuple[str, str]]:
        """(gpu uuid, pid) of every compute process nvidia-smi reports."""
        try:
            proc = subprocess.run(
                [*self.nvidia_smi, *QUERY], capture_output=True, text=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PlatformError(f"nvidia-smi could not run: {exc}") from exc
        if proc.returncode != 0:
            raise PlatformError(f"nvidia-smi failed: {proc.stderr.strip()[:300]}")
        apps = []
        for line in proc.stdout.splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) >= 2 and parts[0]:
                apps.append((parts[0], parts[1]))
        return apps

    def check_idle(self, uuid: str) -> bool:
        """True when the GPU holds no process (waiting up to settle_s); else out of service."""
        deadline = time.monotonic() + self.settle_s
        why = ""
        while True:
            try:
                left = [pid for gpu, pid in self.compute_apps() if gpu == uuid]
                why = f"processes {', '.join(left)} still hold it after the sandbox was killed"
            except PlatformError as exc:
                left, why = ["?"], str(exc)
            if not left:
                return True
            if time.monotonic() >= deadline:
                break
            self.sleep(0.5)
        self.take_out_of_service(uuid, why)
        return False

    def take_out_of_service(self, uuid: str, reason: str) -> None:
        log.error("GPU %s taken out of service: %s", uuid, reason)
        status = gpu_status(self.status_path)
        status[uuid] = {"in_service": False, "reason": reason, "since": time.time()}
        _write_status(self.status_path, status)

    def _out_of_service(self) -> set[str]:
        return {u for u, s in gpu_status(self.status_path).items() if not s.get("in_service")}


def gpu_status(path: Path | None = None) -> dict[str, dict[str, object]]:
    """{uuid: {"in_service": bool, "reason": str, "since": epoch}} for GPUs taken out."""
    path = path or state_dir() / STATUS_FILE
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def return_to_service(uuid: str, path: Path | None = None) -> None:
    path = path or state_dir() / STATUS_FILE
    status = gpu_status(path)
    status.pop(uuid, None)
    _write_status(path, status)


def _write_status(path: Path, status: dict[str, dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=1, sort_keys=True))
    tmp.replace(path)
