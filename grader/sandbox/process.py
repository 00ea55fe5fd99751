"""The process backend: the embedded default, with deliberately weaker isolation than Docker.

Each job gets a fresh temporary directory holding copies of its mounts, a clean allow-listed
environment, resource limits (processes, file size, open files, no core dumps), and a hard
wall-clock kill of its whole process group. Memory is enforced by watching the resident size
of the sandbox's processes, not with RLIMIT_AS, because TensorFlow reserves far more virtual
memory than it ever touches. Where the kernel allows it the sandbox also gets its own network
namespace (no network), a private mount namespace that hides the hidden data, and runs as an
unprivileged user; each of these falls back quietly and the backend says what it got.
"""

from __future__ import annotations

import ctypes
import os
import pwd
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from grader import outputs
from grader.errors import PlatformError
from grader.sandbox.base import (
    Backend,
    Job,
    RunResult,
    SandboxLimits,
    Session,
    SessionClosed,
    SessionTimeout,
)
from grader.text import sanitize

REPO_DIR = Path(__file__).resolve().parents[2]
SANDBOXES_DIR = REPO_DIR / "sandboxes"
CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = (
    1,
    2,
    4,
    4096,
    8192,
    16384,
    1 << 18,
)
PR_SET_NO_NEW_PRIVS = 38
POLL_S = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")

_libc = ctypes.CDLL(None, use_errno=True)
_unshare = _libc.unshare
_mount = _libc.mount
_mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_prctl = _libc.prctl


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _do_mount(src: str | None, dst: str, fstype: str | None, flags: int, data: str | None) -> None:
    enc = [None if s is None else s.encode() for s in (src, dst, fstype, data)]
    _check(_mount(enc[0], enc[1], enc[2], flags, enc[3]), f"mount {dst}")


@dataclass(frozen=True)
class _Features:
    net: bool  # own network namespace
    mount: bool  # private mount namespace: hidden data masked
    user: str | None  # unprivileged user the sandbox runs as, if any


@dataclass(frozen=True)
class _Plan:
    """Everything the child does between fork and exec, computed in the parent."""

    limits: SandboxLimits
    features: _Features
    deny: tuple[str, ...]
    # (blocked ancestor, ((needed path, staging dir), ...)): paths kept reachable under it
    expose: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    def __call__(self) -> None:
        # Runs in the child after fork, before exec: only simple system calls here.
        import resource

        lim = self.limits
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fsize = lim.output_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (lim.max_open_files, lim.max_open_files))
        cpus = sorted(os.sched_getaffinity(0))[: lim.cpus]
        os.sched_setaffinity(0, cpus)
        feats = self.features
        flags = (CLONE_NEWNET if feats.net else 0) | (CLONE_NEWNS if feats.mount else 0)
        if feats.net and not feats.mount and os.geteuid() != 0:
            flags |= CLONE_NEWUSER
        if flags:
            _check(_unshare(flags), "unshare")
        if feats.mount:
            _do_mount(None, "/", None, MS_REC | MS_PRIVATE, None)
            for path in self.deny:
                if os.path.isdir(path):
                    _do_mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV, "size=4k")
                elif os.path.exists(path):
                    _do_mount("/dev/null", path, None, MS_BIND, None)
            for blocked, kept in self.expose:
                # Keep what the sandbox needs (the Python install, the harness) reachable
                # while hiding everything else under their untraversable ancestor.
                for needed, stage in kept:
                    _do_mount(needed, stage, None, MS_BIND | MS_REC, None)
                _do_mount("tmpfs", blocked, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0755")
                for needed, stage in kept:
                    os.makedirs(needed, mode=0o755, exist_ok=True)
                    _do_mount(stage, needed, None, MS_MOVE, None)
        if feats.user is not None:
            pw = pwd.getpwnam(feats.user)
            resource.setrlimit(resource.RLIMIT_NPROC, (lim.max_processes, lim.max_processes))
            _check(_prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl")
            os.setgroups([])
            os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
            os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)


def _blocked_ancestor(path: str) -> str | None:
    """Highest ancestor of `path` that other users cannot traverse, if any."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        p = os.path.join(*parts[:i])
        try:
            if not os.stat(p).st_mode & 0o001:
                return p
        except OSError:
            return None
    return None


_FEATURES: _Features | None = None
_FEATURES_LOCK = threading.Lock()


def _probe_features() -> _Features:
    """Find once which isolation features work here, by starting a trivial sandbox."""
    global _FEATURES
    with _FEATURES_LOCK:
        if _FEATURES is not None:
            return _FEATURES
        root = os.geteuid() == 0
        user = None
        if root:
            try:
                pwd.getpwnam("nobody")
                user = "nobody"
            except KeyError:
                user = None
        candidates = [
            _Features(net=True, mount=root, user=user),
            _Features(net=True, mount=root, user=None),
            _Features(net=True, mount=False, user=None),
            _Features(net=False, mount=False, user=None),
        ]
        for feats in candidates:
            if _trial(feats):
                _FEATURES = feats
                return feats
        _FEATURES = candidates[-1]
        return _FEATURES


def _trial(feats: _Features) -> bool:
    limits = SandboxLimits(wall_time_s=30, memory_mb=512)
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as tmp:
        os.chmod(tmp, 0o755)  # noqa: S103 - the unprivileged sandbox user must enter it
        plan = _make_plan(limits, feats, (), Path(tmp))
        try:
            proc = subprocess.run(
                [sys.executable, "-c", "import numpy"],
                preexec_fn=plan,  # noqa: PLW1509 - the namespaces need it
                start_new_session=True,
                env={"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"},
                cwd=tmp,
                capture_output=True,
                timeout=30,
                check=False,
            )
        except (subprocess.SubprocessError, OSError):
            return False
        return proc.returncode == 0


def _make_plan(
    limits: SandboxLimits, feats: _Features, deny: tuple[Path, ...], work: Path
) -> _Plan:
    kept: dict[str, list[tuple[str, str]]] = {}
    if feats.mount and feats.user is not None:
        needed = {
            os.path.realpath(sys.base_prefix),
            os.path.realpath(sys.prefix),
            os.path.realpath(SANDBOXES_DIR),
        }
        for i, path in enumerate(sorted(needed)):
            blocked = _blocked_ancestor(path)
            if blocked is None or any(
                path.startswith(n + os.sep) for n, _ in kept.get(blocked, [])
            ):
                continue
            stage = work / f".stage{i}"
            stage.mkdir(mode=0o755)
            kept.setdefault(blocked, []).append((path, str(stage)))
    expose = tuple((blocked, tuple(items)) for blocked, items in kept.items())
    return _Plan(limits, feats, tuple(str(p) for p in deny if p.exists()), expose)


def _tree_pids(leader: int) -> list[int]:
    """The sandbox's processes: its process group plus any descendant that left it."""
    parents: dict[int, int] = {}
    members: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        pid, ppid, pgrp = int(name), int(fields[1]), int(fields[2])
        parents[pid] = ppid
        if pgrp == leader or pid == leader:
            members.add(pid)
    changed = True
    while changed:
        changed = False
        for pid, ppid in parents.items():
            if ppid in members and pid not in members:
                members.add(pid)
                changed = True
    return sorted(members)


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * PAGE / (1024 * 1024)


def _kill_tree(leader: int) -> None:
    pids = _tree_pids(leader)
    try:
        os.killpg(leader, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class _Watch:
    """Wall-clock and memory watchdog for one sandbox process tree."""

    def __init__(self, proc: subprocess.Popen[bytes], limits: SandboxLimits) -> None:
        self.proc = proc
        self.limits = limits
        self.started = time.monotonic()
        self.deadline = self.started + limits.wall_time_s
        self.peak_mb = 0.0
        self.timed_out = False
        self.oom = False

    def check(self) -> bool:
        """One look at the sandbox; True while it still runs."""
        if self.proc.poll() is not None:
            return False
        rss = _rss_mb(_tree_pids(self.proc.pid))
        self.peak_mb = max(self.peak_mb, rss)
        if rss > self.limits.memory_mb:
            self.oom = True
            self.kill()
            return False
        if time.monotonic() > self.deadline:
            self.timed_out = True
            self.kill()
            return False
        return True

    def kill(self) -> None:
        _kill_tree(self.proc.pid)

    def finish(self, log_path: Path) -> RunResult:
        if self.proc.poll() is None:
            self.kill()
        self.proc.wait()
        wall = time.monotonic() - self.started
        _kill_tree(self.proc.pid)  # daemonised leftovers
        return RunResult(
            exit_code=self.proc.returncode,
            timed_out=self.timed_out,
            oom=self.oom,
            wall_time_s=round(wall, 3),
            peak_memory_mb=round(self.peak_mb, 1),
            log=_read_log(log_path, self.limits.log_bytes),
        )


def _read_log(path: Path, cap: int) -> str:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size <= cap:
                return sanitize(f.read(), cap)
            head = f.read(cap // 4)
            f.seek(size - (cap - cap // 4))
            tail = f.read()
    except OSError:
        return ""
    return (
        sanitize(head, cap)
        + f"\n[... {size - len(head) - len(tail)} bytes cut ...]\n"
        + sanitize(tail, cap)
    )


class _Workspace:
    """The job's temporary directory: copies of the mounts, home, tmp, out."""

    def __init__(self, job: Job, feats: _Features) -> None:
        self.job = job
        self.dir = Path(tempfile.mkdtemp(prefix="grader-sbx-"))
        os.chmod(self.dir, 0o755)  # noqa: S103 - the sandbox user must enter it
        uid = gid = -1
        if feats.user is not None:
            pw = pwd.getpwnam(feats.user)
            uid, gid = pw.pw_uid, pw.pw_gid
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "PYTHONPATH": str(SANDBOXES_DIR),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONHASHSEED": "0",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "KERAS_BACKEND": "tensorflow",
            "OMP_NUM_THREADS": str(job.limits.cpus),
            "MKL_NUM_THREADS": str(job.limits.cpus),
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0")
            if job.limits.gpu
            else "",
        }
        for name, src in job.mounts.items():
            dst = self.dir / name
            shutil.copytree(src, dst, symlinks=False)
            _read_only(dst)
            self.env[f"SANDBOX_{name.upper()}"] = str(dst)
        for name in ("out", "home", "tmp"):
            (self.dir / name).mkdir(mode=0o700)
            os.chown(self.dir / name, uid, gid)
        self.env.update(
            SANDBOX_OUT=str(self.dir / "out"),
            HOME=str(self.dir / "home"),
            TMPDIR=str(self.dir / "tmp"),
            KERAS_HOME=str(self.dir / "home" / ".keras"),
            MPLCONFIGDIR=str(self.dir / "tmp"),
        )
        self.env.update(job.env)
        self.log_path = self.dir / "log.txt"
        self.command = list(job.command)
        if self.command and self.command[0] == "python":
            self.command[0] = sys.executable
        self.cwd = str(self.dir / "entry") if "entry" in job.mounts else str(self.dir / "tmp")

    def collect(self) -> str | None:
        """Copy plain files from the sandbox's out/ to the job's output dir, within limits;
        why they were refused, if they were (bounded and iterative: grader.outputs)."""
        limits = outputs.TreeLimits.for_output_mb(self.job.limits.output_mb)
        return outputs.collect(self.dir / "out", self.job.output_dir, limits)

    def remove(self) -> None:
        outputs.remove_tree(self.dir)


def _read_only(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o444)
        os.chmod(dirpath, 0o555)  # noqa: S103 - readable, never writable


class ProcessBackend(Backend):
    name = "process"
    isolation = "process (weak)"
    image_digest = None

    def __init__(self) -> None:
        self.features = _probe_features()

    def describe(self) -> dict[str, str]:
        f = self.features
        return {
            "backend": self.name,
            "isolation": self.isolation,
            "network isolation": "network namespace" if f.net else "unavailable",
            "hidden data masked": "mount namespace" if f.mount else "unavailable",
            "user": f.user or f"unchanged (uid {os.geteuid()})",
        }

    def _spawn(self, job: Job, interactive: bool) -> tuple[_Workspace, subprocess.Popen[bytes]]:
        ws = _Workspace(job, self.features)
        plan = _make_plan(job.limits, self.features, job.deny_paths, ws.dir)
        log = open(ws.log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
        try:
            proc = subprocess.Popen(
                ws.command,
                stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
                stdout=subprocess.PIPE if interactive else log,
                stderr=log,
                cwd=ws.cwd,
                env=ws.env,
                preexec_fn=plan,  # noqa: PLW1509 - namespaces and uid drop need it
                start_new_session=True,
                close_fds=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            ws.remove()
            raise PlatformError(f"the process sandbox could not start: {exc}") from exc
        finally:
            log.close()
        return ws, proc

    def run(self, job: Job, on_tick: Callable[[], None] | None = None) -> RunResult:
        ws, proc = self._spawn(job, interactive=False)
        watch = _Watch(proc, job.limits)
        next_tick = time.monotonic() + 1.0
        try:
            while watch.check():
                time.sleep(POLL_S)
                if on_tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + 1.0
                    on_tick()
            result = watch.finish(ws.log_path)
            result.output_error = ws.collect()
            return result
        finally:
            watch.kill()
            proc.wait()
            ws.remove()

    def start_session(self, job: Job) -> Session:
        ws, proc = self._spawn(job, interactive=True)
        return ProcessSession(ws, proc)


class ProcessSession(Session):
    def __init__(self, ws: _Workspace, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.ws = ws
        self.proc = proc
        self.watch = _Watch(proc, ws.job.limits)
        self.stdin = proc.stdin.fileno()
        self.stdout = proc.stdout.fileno()
        os.set_blocking(self.stdin, False)
        self.buffer = bytearray()
        self.result: RunResult | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._monitor, daemon=True)
        self._thread.start()

    def _monitor(self) -> None:
        while not self._stop.is_set() and self.watch.check():
            self._stop.wait(POLL_S)

    def send(self, payload: bytes, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        view = memoryview(payload)
        while view:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionTimeout("the policy stopped reading its input")
            _r, w, _x = select.select([], [self.stdin], [], min(left, POLL_S))
            if not w:
                if self.proc.poll() is not None:
                    raise SessionClosed("the policy exited")
                continue
            try:
                n = os.write(self.stdin, view)
            except BlockingIOError:
                continue
            except (BrokenPipeError, OSError) as exc:
                raise SessionClosed("the policy exited") from exc
            view = view[n:]

    def _read_exact(self, n: int, deadline: float) -> bytes:
        while len(self.buffer) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionTimeout("no answer in time")
            r, _w, _x = select.select([self.stdout], [], [], min(left, POLL_S))
            if not r:
                if self.proc.poll() is not None:
                    raise SessionClosed("the policy exited")
                continue
            chunk = os.read(self.stdout, max(65536, n - len(self.buffer)))
            if not chunk:
                raise SessionClosed("the policy exited")
            self.buffer += chunk
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def close(self) -> RunResult:
        if self.result is not None:
            return self.result
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        self._stop.set()
        self._thread.join()
        try:
            self.result = self.watch.finish(self.ws.log_path)
            self.result.output_error = self.ws.collect()
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            return self.result
        finally:
            self.ws.remove()
