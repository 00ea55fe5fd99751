"""The Docker backend: the production sandbox.

Every container is made by `create_sandbox`, from the one hardened profile `sandbox_config`:
no network, a fixed unprivileged user, a read-only root with a small noexec tmpfs at /tmp, no
capabilities, no new privileges (Docker's default seccomp profile stays on), pids/memory
(no swap)/CPU limits, file-size/open-file/core ulimits, a private IPC namespace, an init
process, bounded logs, an allow-listed environment, and only the job's mounts (read-only) plus
one small writable output directory. The wall-clock deadline is enforced from here (kill,
then remove with volumes).

A container is recorded before it starts (a label naming the worker and a state file in
`GRADER_DOCKER_STATE_DIR`), so `reap_orphans()` finds and removes what a crashed worker left.

Configuration (environment): GRADER_DOCKER_IMAGE (default labgrader-sandbox:cpu),
GRADER_DOCKER_GPU_IMAGE (default labgrader-sandbox:gpu), GRADER_DOCKER_IMAGES (per entry kind,
e.g. "keras=labgrader-sandbox:tf-cpu,torch=labgrader-sandbox:torch-cpu"), GRADER_GPUS (see
grader.sandbox.gpu), GRADER_DOCKER_STATE_DIR. Mount sources must be paths on the Docker host.
"""

from __future__ import annotations

import json
import logging
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import docker
import requests
from docker.errors import DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

from grader import outputs
from grader.errors import PlatformError
from grader.protocol import HEADER, MAX_FRAME, ProtocolError
from grader.sandbox.base import (
    Backend,
    Job,
    RunResult,
    SandboxLimits,
    Session,
    SessionClosed,
    SessionTimeout,
    check_mounts,
)
from grader.sandbox.gpu import GpuPool, device_request, state_dir
from grader.text import sanitize

log = logging.getLogger(__name__)

LABEL = "labgrader.sandbox"  # value: the job's run id
OWNER_LABEL = "labgrader.owner"  # value: "<hostname>:<worker pid>"
USER = "65534:65534"
MOUNT_ROOT = "/sandbox"
SCRATCH = "/tmp"  # noqa: S108 - inside the container: its own private tmpfs
LOG_MAX_SIZE = "1m"  # what Docker keeps on disk per container, whatever the entry prints
TICK_S = 1.0
MB = 1024 * 1024


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def sandbox_env(job: Job, gpu: bool) -> dict[str, str]:
    """The whole environment of a sandbox: fixed values plus the job's allow-listed ones."""
    cpus = str(job.limits.cpus)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "HOME": SCRATCH,
        "TMPDIR": SCRATCH,
        "PYTHONPATH": "/opt/grader",
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "PYTHONHASHSEED": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_FORCE_GPU_ALLOW_GROWTH": "true",
        "KERAS_BACKEND": "tensorflow",
        "KERAS_HOME": f"{SCRATCH}/.keras",
        "MPLCONFIGDIR": SCRATCH,
        "OMP_NUM_THREADS": cpus,
        "MKL_NUM_THREADS": cpus,
        # The device request exposes one GPU, which is device 0 inside.
        "CUDA_VISIBLE_DEVICES": "0" if gpu else "",
        "SANDBOX_OUT": f"{MOUNT_ROOT}/out",
    }
    for name in job.mounts:
        env[f"SANDBOX_{name.upper()}"] = f"{MOUNT_ROOT}/{name}"
    env.update(job.env)
    if gpu:
        env["CUDA_VISIBLE_DEVICES"] = "0"
    return env


def sandbox_config(
    job: Job,
    image_id: str,
    run_id: str,
    out_dir: Path,
    gpu_uuid: str | None = None,
    interactive: bool = False,
) -> dict[str, Any]:
    """The keyword arguments of containers.create for one job: the hardened profile."""
    lim: SandboxLimits = job.limits
    command = list(job.command)
    if command and command[0] == "python":
        command[0] = "python3"
    mounts = [
        Mount(target=f"{MOUNT_ROOT}/{name}", source=str(src), type="bind", read_only=True)
        for name, src in sorted(job.mounts.items())
    ]
    mounts.append(Mount(target=f"{MOUNT_ROOT}/out", source=str(out_dir), type="bind"))
    fsize = lim.output_mb * MB
    tmp_mb = max(64, min(1024, lim.memory_mb // 4))
    config: dict[str, Any] = {
        "image": image_id,
        "command": command,
        "name": f"labgrader-{run_id}",
        "hostname": "sandbox",
        "labels": {LABEL: run_id, OWNER_LABEL: _owner()},
        "user": USER,
        "environment": sandbox_env(job, gpu_uuid is not None),
        "use_config_proxy": False,  # the SDK would copy the host's proxy settings in
        "working_dir": f"{MOUNT_ROOT}/entry" if "entry" in job.mounts else SCRATCH,
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {SCRATCH: f"rw,noexec,nosuid,nodev,size={tmp_mb}m,mode=1777"},
        "mounts": mounts,
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "privileged": False,
        "pids_limit": lim.max_processes,
        "mem_limit": f"{lim.memory_mb}m",
        "memswap_limit": f"{lim.memory_mb}m",  # equal: no swap
        "shm_size": "64m",
        "nano_cpus": int(lim.cpus * 1_000_000_000),
        "oom_score_adj": 500,  # under host pressure, the sandbox dies before the worker
        "ulimits": [
            Ulimit(name="nofile", soft=lim.max_open_files, hard=lim.max_open_files),
            Ulimit(name="fsize", soft=fsize, hard=fsize),
            Ulimit(name="core", soft=0, hard=0),
        ],
        "ipc_mode": "private",
        "init": True,
        # A session's stdout is the protocol channel: Docker must not log its frames (they
        # would fill the capped log and push the entry's own output out); its stderr, the
        # entry's output, is read from the attach stream instead (DockerSession).
        "log_config": LogConfig(type=LogConfig.types.NONE)
        if interactive
        else LogConfig(
            type=LogConfig.types.JSON, config={"max-size": LOG_MAX_SIZE, "max-file": "1"}
        ),
        "detach": not interactive,
        "stdin_open": interactive,  # with detach=False this also sets StdinOnce
        "tty": False,
    }
    if gpu_uuid is not None:
        config["device_requests"] = [DeviceRequest(**device_request(gpu_uuid))]  # type: ignore[arg-type]
    return config


def _cid(container: Container) -> str:
    """A created container's id (the SDK's stubs allow None, which a created one never has)."""
    return str(container.id)


def _record(run_id: str, container_id: str) -> Path:
    directory = state_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.json"
    path.write_text(json.dumps({"run_id": run_id, "container": container_id, "owner": _owner()}))
    return path


def create_sandbox(client: docker.DockerClient, config: Mapping[str, Any]) -> Container:
    """The one way a sandbox container is made: create, record, return (not yet started)."""
    try:
        container = client.containers.create(**config)
    except DockerException as exc:
        raise PlatformError(f"the Docker sandbox could not be created: {exc}") from exc
    _record(config["labels"][LABEL], _cid(container))
    return container


def _remove(client: docker.DockerClient, container_id: str, run_id: str | None) -> None:
    try:
        client.api.remove_container(container_id, v=True, force=True)
    except NotFound:
        pass
    except DockerException as exc:
        log.warning("could not remove sandbox container %s: %s", container_id[:12], exc)
        return
    if run_id is not None:
        (state_dir() / f"{run_id}.json").unlink(missing_ok=True)


def _alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_orphans(client: docker.DockerClient | None = None, everything: bool = False) -> list[str]:
    """Remove sandbox containers whose worker is gone (all of them with everything=True).

    Call it when a worker starts; returns the ids removed."""
    client = client or docker.from_env()
    removed = []
    for c in client.containers.list(all=True, filters={"label": LABEL}):
        labels = c.labels or {}
        if everything or not _alive(labels.get(OWNER_LABEL, "")):
            _remove(client, _cid(c), labels.get(LABEL))
            removed.append(_cid(c))
    directory = state_dir()
    for path in directory.glob("*.json") if directory.is_dir() else []:
        if path.name == "gpu-status.json":
            continue
        try:
            rec = json.loads(path.read_text())
            cid, owner = str(rec["container"]), str(rec["owner"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if everything or not _alive(owner):
            _remove(client, cid, path.stem)
            removed.append(cid)
    return sorted(set(removed))


class _OutDir:
    """The writable output directory: a size-capped tmpfs on the host when we are root.

    A plain bind-mounted folder would let an entry fill the host's disk with many files
    (fsize caps only one); without root the size is watched from outside instead."""

    def __init__(self, limits: SandboxLimits) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="grader-docker-"))
        self.path = self.base / "out"
        self.path.mkdir()
        self.limits = outputs.TreeLimits.for_output_mb(limits.output_mb)
        self.mounted = False
        if os.geteuid() == 0:
            opts = f"size={limits.output_mb}m,mode=0700,uid=65534,gid=65534,noexec,nosuid,nodev"
            proc = subprocess.run(
                ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(self.path)],
                capture_output=True,
                check=False,
            )
            self.mounted = proc.returncode == 0
        if not self.mounted:
            os.chmod(self.path, 0o777)  # noqa: S103 - the sandbox user writes here; parent is 0700

    def too_big(self) -> bool:
        """True once the folder breaks the output limits (only watched when not a tmpfs)."""
        if self.mounted:
            return False
        return outputs.check(self.path, self.limits) is not None

    def collect(self, dest: Path) -> str | None:
        """Copy plain files (never links or devices) out, within the output limits; why
        they were refused, if they were (bounded and iterative: grader.outputs)."""
        return outputs.collect(self.path, dest, self.limits)

    def remove(self) -> None:
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.path)], capture_output=True, check=False)
        outputs.remove_tree(self.base)


def _peak_memory_mb(container_id: str) -> float | None:
    """Peak memory of a running container from its cgroup (v1 or v2), when visible here."""
    for path in (
        f"/sys/fs/cgroup/memory/docker/{container_id}/memory.max_usage_in_bytes",
        f"/sys/fs/cgroup/system.slice/docker-{container_id}.scope/memory.peak",
        f"/sys/fs/cgroup/docker/{container_id}/memory.peak",
    ):
        try:
            return int(Path(path).read_text()) / MB
        except (OSError, ValueError):
            continue
    return None


def _exit_code(code: int | None) -> int | None:
    # docker-init reports a child killed by signal N as 128+N; the interface says -N.
    if code is not None and 128 < code <= 128 + 64:
        return -(code - 128)
    return code


class _Run:
    """One container from creation to removal: deadline, peak memory, state, logs."""

    def __init__(self, backend: DockerBackend, job: Job, interactive: bool) -> None:
        self.backend = backend
        self.client = backend.client
        self.job = job
        self.run_id = uuid.uuid4().hex[:16]
        self.gpu: str | None = None
        self.killed = False
        self.timed_out = False
        self.peak_mb = 0.0
        self.container: Container | None = None
        self.out = _OutDir(job.limits)
        try:
            _check_mounts(job)
            if job.limits.gpu:
                self.gpu = backend.gpus.acquire()
            image = backend.image_for(job)
            config = sandbox_config(
                job, image, self.run_id, self.out.path, self.gpu, interactive=interactive
            )
            self.container = create_sandbox(self.client, config)
        except BaseException:
            self.cleanup()
            raise
        self.started = time.monotonic()
        self.deadline = self.started + job.limits.wall_time_s

    def start(self) -> None:
        assert self.container is not None
        try:
            self.container.start()
        except DockerException as exc:
            self.cleanup()
            raise PlatformError(f"the Docker sandbox could not start: {exc}") from exc
        self.started = time.monotonic()
        self.deadline = self.started + self.job.limits.wall_time_s
        self.sample()

    def sample(self) -> None:
        assert self.container is not None
        peak = _peak_memory_mb(_cid(self.container))
        if peak is not None:
            self.peak_mb = max(self.peak_mb, peak)

    def over_limits(self) -> bool:
        """Kill the sandbox if it ran past its deadline or output budget; True if it did."""
        if time.monotonic() > self.deadline:
            self.timed_out = True
        elif not self.out.too_big():
            return False
        self.kill()
        return True

    def kill(self) -> None:
        assert self.container is not None
        self.killed = True
        try:
            self.container.kill()
        except DockerException:
            pass  # already exited

    def state(self) -> dict[str, Any]:
        assert self.container is not None
        try:
            return dict(self.client.api.inspect_container(_cid(self.container))["State"])
        except DockerException as exc:
            raise PlatformError(f"the Docker sandbox vanished: {exc}") from exc

    def wait(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for the container to exit; True when it has."""
        assert self.container is not None
        try:
            self.container.wait(timeout=max(0.05, timeout_s))
            return True
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
            return not self.state().get("Running", False)

    def finish(self, log: str | None = None) -> RunResult:
        """After exit: read how it ended, its log (unless given) and outputs, then remove
        everything."""
        assert self.container is not None
        try:
            if not self.wait(10.0):
                self.kill()
                self.wait(10.0)
            wall = time.monotonic() - self.started
            st = self.state()
            oom = bool(st.get("OOMKilled"))
            raw = b""
            if log is None:
                try:
                    raw = self.container.logs(stdout=True, stderr=True)
                except DockerException:
                    pass
            refused = self.out.collect(self.job.output_dir)
            return RunResult(
                exit_code=_exit_code(st.get("ExitCode")),
                timed_out=self.timed_out and not oom,
                oom=oom,
                wall_time_s=round(wall, 3),
                peak_memory_mb=round(self.peak_mb, 1),
                log=sanitize(raw, self.job.limits.log_bytes) if log is None else log,
                output_error=refused,
            )
        finally:
            self.cleanup()

    def cleanup(self) -> None:
        try:
            if self.container is not None:
                _remove(self.client, _cid(self.container), self.run_id)
                self.container = None
            if self.gpu is not None:
                gpu, self.gpu = self.gpu, None
                self.backend.gpus.release(gpu, killed=self.killed)
        finally:
            self.out.remove()


def _check_mounts(job: Job) -> None:
    check_mounts(job)


class DockerBackend(Backend):
    name = "docker"
    isolation = (
        "docker (no network, non-root, read-only root, all capabilities dropped, "
        "no new privileges, seccomp, pids/memory/CPU limits)"
    )
    _reaped = False

    def __init__(
        self,
        client: docker.DockerClient | None = None,
        gpus: GpuPool | None = None,
        pinned_image: str | None = None,
    ) -> None:
        try:
            self.client = client or docker.from_env(timeout=60)
            self.client.ping()
        except DockerException as exc:
            raise PlatformError(f"the Docker Engine is not reachable: {exc}") from exc
        self.gpus = gpus or GpuPool()
        self.image_digest: str | None = None
        self.pinned_image = pinned_image
        self._images: dict[str, str] = {}
        if not DockerBackend._reaped:
            DockerBackend._reaped = True
            removed = reap_orphans(self.client)
            if removed:
                log.warning("removed %d orphaned sandbox container(s)", len(removed))

    def image_tag(self, job: Job) -> str:
        if self.pinned_image:
            # "tag@sha256:<id>" as recorded in a receipt: the id is what must run again.
            return self.pinned_image.rsplit("@", 1)[-1]
        if job.limits.gpu:
            return os.environ.get("GRADER_DOCKER_GPU_IMAGE", "labgrader-sandbox:gpu")
        kind = _arg(job.command, "--kind")
        for item in os.environ.get("GRADER_DOCKER_IMAGES", "").split(","):
            k, _, tag = item.partition("=")
            if kind and k.strip() == kind and tag.strip():
                return tag.strip()
        return os.environ.get("GRADER_DOCKER_IMAGE", "labgrader-sandbox:cpu")

    def image_for(self, job: Job) -> str:
        """The image id (sha256 digest) the job runs on; recorded for the receipt."""
        tag = self.image_tag(job)
        if tag not in self._images:
            try:
                image = self.client.images.get(tag)
            except ImageNotFound as exc:
                raise PlatformError(
                    f"sandbox image {tag} is missing: run scripts/build_sandbox_images.sh"
                ) from exc
            except DockerException as exc:
                raise PlatformError(f"cannot inspect sandbox image {tag}: {exc}") from exc
            self._images[tag] = str(image.id)
        image_id = self._images[tag]
        inspected = self.client.api.inspect_image(image_id)  # type: ignore[no-untyped-call,unused-ignore]
        repo_digests = inspected.get("RepoDigests") or []
        self.image_digest = self.pinned_image or (
            f"{tag}@{repo_digests[0].split('@')[-1] if repo_digests else image_id}"
        )
        return image_id

    def run(self, job: Job, on_tick: Callable[[], None] | None = None) -> RunResult:
        r = _Run(self, job, interactive=False)
        try:
            r.start()
            next_tick = time.monotonic() + TICK_S
            while True:
                left = min(next_tick, r.deadline) - time.monotonic()
                # Short waits: peak memory can only be read while the container runs.
                if r.wait(min(left, 0.2)):
                    break
                r.sample()
                if r.over_limits():
                    break
                if on_tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + TICK_S
                    on_tick()
            return r.finish()
        except BaseException:
            if r.container is not None:
                r.kill()
            r.cleanup()
            raise

    def start_session(self, job: Job) -> Session:
        r = _Run(self, job, interactive=True)
        assert r.container is not None
        try:
            # Attach before start, so no byte of output is missed. Both output streams come
            # multiplexed: stdout carries the frames, stderr the entry's own output.
            sock = self.client.api.attach_socket(
                _cid(r.container), params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
        except DockerException as exc:
            r.cleanup()
            raise PlatformError(f"cannot attach to the Docker sandbox: {exc}") from exc
        raw = getattr(sock, "_sock", sock)
        r.start()
        return DockerSession(r, raw)


def _arg(command: tuple[str, ...], flag: str) -> str | None:
    for i, part in enumerate(command[:-1]):
        if part == flag:
            return command[i + 1]
    return None


class _LogTail:
    """The entry's output as it streams in, kept as the process backend keeps its log file:
    whole up to `cap` bytes, else the first quarter and the last three quarters."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.cut = 0

    def write(self, data: bytes) -> None:
        room = self.cap // 4 - len(self.head)
        if room > 0:
            self.head += data[:room]
            data = data[room:]
        self.tail += data
        extra = len(self.tail) - (self.cap - self.cap // 4)
        if extra > 0:
            self.cut += extra
            del self.tail[:extra]

    def text(self) -> str:
        if not self.cut:
            return sanitize(bytes(self.head + self.tail), self.cap)
        return (
            sanitize(bytes(self.head), self.cap)
            + f"\n[... {self.cut} bytes cut ...]\n"
            + sanitize(bytes(self.tail), self.cap)
        )


# Unread protocol bytes allowed: one frame answering what was asked, plus slack.
MAX_UNREAD = MAX_FRAME + HEADER.size + (1 << 16)


class DockerSession(Session):
    """Frames over the container's attached stdin/stdout; its stderr is the log.

    Docker multiplexes both output streams on the attach socket (8-byte headers written by
    the daemon, so the entry cannot forge them). A reader thread drains the socket all the
    time, so an entry printing a lot never blocks on a full socket while the worker is
    sending, and the log holds exactly what the entry wrote to stderr (the harness points
    the entry's stdout there), never a protocol frame."""

    def __init__(self, run: _Run, sock: socket.socket) -> None:
        self.run = run
        self.sock = sock
        self.sock.setblocking(False)
        self.cond = threading.Condition()
        self.buffer = bytearray()  # the container's stdout: protocol frames
        self.log = _LogTail(run.job.limits.log_bytes)
        self.eof = False
        self.error: ProtocolError | None = None
        self.result: RunResult | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._monitor, daemon=True)
        self._thread.start()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _monitor(self) -> None:
        while not self._stop.wait(0.25):
            try:
                self.run.sample()
                if self.run.over_limits():
                    return
            except Exception:  # noqa: BLE001 - the session's own calls report the failure
                log.exception("sandbox monitor")
                return

    def _read_loop(self) -> None:
        raw = bytearray()  # multiplexed stream bytes not yet parsed
        while not self._stop.is_set():
            try:
                r, _w, _x = select.select([self.sock], [], [], 0.1)
                if not r:
                    continue
                chunk = self.sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except (OSError, ValueError):  # closed under us: the session is ending
                chunk = b""
            with self.cond:
                if not chunk:
                    self.eof = True
                    self.cond.notify_all()
                    return
                raw += chunk
                while len(raw) >= 8:
                    stream, size = raw[0], int.from_bytes(raw[4:8], "big")
                    if len(raw) < 8 + size:
                        break
                    data = bytes(raw[8 : 8 + size])
                    del raw[: 8 + size]
                    if stream == 2:
                        self.log.write(data)
                    elif stream == 1 and self.error is None:
                        self.buffer += data
                        if len(self.buffer) > MAX_UNREAD:
                            self.error = ProtocolError(
                                "the policy sent more than one frame's worth unasked"
                            )
                            self.buffer.clear()
                self.cond.notify_all()

    def _gone(self) -> bool:
        return self.run.killed or not self.run.state().get("Running", False)

    def send(self, payload: bytes, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        view = memoryview(payload)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionTimeout("the policy stopped reading its input")
            _r, w, _x = select.select([], [self.sock], [], min(left, 0.1))
            if not w:
                if self._gone():
                    raise SessionClosed("the policy exited")
                continue
            try:
                n = self.sock.send(view)
            except BlockingIOError:
                continue
            except OSError as exc:
                raise SessionClosed("the policy exited") from exc
            view = view[n:]

    def _read_exact(self, n: int, deadline: float) -> bytes:
        with self.cond:
            while len(self.buffer) < n:
                if self.error is not None:
                    raise self.error
                if self.eof:
                    raise SessionClosed("the policy exited")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SessionTimeout("no answer in time")
                if not self.cond.wait(min(left, 0.1)) and self._gone():
                    # Exited: what it wrote last is still on its way; the stream ends soon.
                    self.cond.wait_for(lambda: self.eof, timeout=2.0)
                    if len(self.buffer) < n:
                        raise SessionClosed("the policy exited")
            data = bytes(self.buffer[:n])
            del self.buffer[:n]
            return data

    def close(self) -> RunResult:
        if self.result is not None:
            return self.result
        try:
            self.sock.shutdown(socket.SHUT_WR)  # EOF on the policy's stdin (StdinOnce)
        except OSError:
            pass
        try:
            if not self.run.wait(2.0):
                self.run.kill()
            # The stream ends once the container has exited and its output is flushed.
            self._reader.join(timeout=5.0)
            self._stop.set()
            self._thread.join()
            self._reader.join()
            with self.cond:
                text = self.log.text()
            self.result = self.run.finish(log=text)
            return self.result
        finally:
            self._stop.set()
            self.sock.close()
            self.run.cleanup()
