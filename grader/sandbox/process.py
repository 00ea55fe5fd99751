"""The process backend: each run in its own bubblewrap sandbox (the demo's and the CLI's default).

Every run starts `bwrap` (Debian's bubblewrap) with its own PID, network, IPC and UTS
namespaces, a root filesystem that holds only what the run needs (read-only: the system's
/usr, the Python install, the harness, the job's mounts; writable: its output folder), its
own small tmpfs /tmp and /dev/shm, a fresh /dev and /proc, no network but loopback, and so no
filesystem or abstract Unix socket of the host. Nothing else of the host is visible: not the
hidden data, not the platform's var/ (database, broker folder, logs, caches), not the media.

Run by root (the worker, CI, the demo), each concurrent run claims a slot (a lock file) and
its entry runs as that slot's own unprivileged uid (UID_BASE + slot) via `setpriv`, with no
capabilities, an empty bounding set and no_new_privs; so runs cannot signal, trace or read
each other and the per-user process limit is per slot. Run by anyone else (a student's CLI),
bubblewrap uses an unprivileged user namespace and the entry keeps that user's own uid.
Entries never run as root: if bubblewrap cannot give this, the backend refuses to grade
(`PlatformError`) and says why; there is no weaker mode to fall back to.

The run's namespace dies whole: when its main process ends, bubblewrap's init (PID 1 in the
namespace) exits and the kernel kills every process left in it, a double-forked `setsid`
daemon included; on a timeout or for memory the watchdog kills that init. Memory is watched as
the resident size of every process of the run plus what it keeps in its /tmp and /dev/shm,
not with RLIMIT_AS, because TensorFlow reserves far more virtual memory than it touches.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import stat
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
    check_mounts,
)
from grader.text import sanitize

REPO_DIR = Path(__file__).resolve().parents[2]
# The folder holding the `harness` package: the checkout's sandboxes/, or site-packages when
# the grader was installed with pip (the wheel ships the harness as a top-level package).
SANDBOXES_DIR = (
    REPO_DIR / "sandboxes" if (REPO_DIR / "sandboxes" / "harness").is_dir() else REPO_DIR
)
BWRAP = "/usr/bin/bwrap"
SETPRIV = "/usr/bin/setpriv"
# Slot uids: unprivileged, with no account on the host, one per concurrent run.
UID_BASE = int(os.environ.get("GRADER_SANDBOX_UID_BASE", "60000"))
SLOTS = int(os.environ.get("GRADER_SANDBOX_SLOTS", "64"))
SLOT_DIR = Path(tempfile.gettempdir()) / "labgrader-sandbox-slots"
MOUNT_ROOT = "/sandbox"  # the job's mounts and out/, as in the Docker sandbox
HARNESS_ROOT = "/opt/grader"
SCRATCH = "/tmp"  # noqa: S108 - inside the sandbox: its own private tmpfs
SHM = "/dev/shm"  # noqa: S108 - inside the sandbox: its own private tmpfs
SHM_MB = 64
POLL_S = 0.1
PAGE = os.sysconf("SC_PAGE_SIZE")
MB = 1024 * 1024
MAX_WALK = 100_000  # entries looked at when checking that a mount is readable
# Host files the sandbox's programs read (the dynamic linker's cache, the time zone).
ETC_FILES = ("/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/localtime")
SYSTEM_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


@dataclass(frozen=True)
class _Isolation:
    """What this process can give a run; found once, by the probe, before any entry runs."""

    privileged: bool  # run by root: a slot uid per run via setpriv

    def words(self, uid: int | None = None) -> str:
        """The receipt's line: the isolation actually used (with the run's uid once known)."""
        if self.privileged:
            who = f"uid {uid}" if uid is not None else f"uid {UID_BASE}+slot"
            spaces = "pid+net+ipc+uts namespaces"
        else:
            who = f"uid {os.geteuid() if uid is None else uid} (no slot uids without root)"
            spaces = "user+pid+net+ipc+uts namespaces"
        return f"process (bubblewrap: {spaces}, {who}, private /tmp and /dev/shm)"


_ISOLATION: _Isolation | None = None
_PROBE_LOCK = threading.Lock()

PROBE_CODE = """
import importlib.util, json, os, socket
assert importlib.util.find_spec("numpy"), "the harness's packages are not reachable"
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
print("PROBE " + json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
    "cap_eff": int(status["CapEff"], 16), "nnp": status["NoNewPrivs"].strip(),
    "net": [n for _, n in socket.if_nameindex()],
    "host_tmp": sorted(os.listdir("/tmp")), "pid": os.getpid(),
}))
"""


def probe() -> _Isolation:
    """The isolation this process gives every run, or PlatformError saying why there is none.

    Run once per process before its first entry (the worker's, the CLI's), by starting a real
    sandbox exactly as an entry gets it and checking from inside what it got. A success is
    kept; a failure is not (the next grade probes again) and nothing weaker is ever tried.
    """
    global _ISOLATION
    with _PROBE_LOCK:
        if _ISOLATION is None:
            iso = _Isolation(privileged=os.geteuid() == 0)
            _check_isolation(iso)
            _ISOLATION = iso
        return _ISOLATION


def _unavailable(why: str) -> PlatformError:
    return PlatformError(
        f"the process sandbox is unavailable: {why}. It needs bubblewrap "
        "(apt-get install bubblewrap) and, run as root, util-linux's setpriv; "
        "or grade with the docker backend"
    )


def _check_isolation(iso: _Isolation) -> None:
    for tool in (BWRAP, SETPRIV) if iso.privileged else (BWRAP,):
        if not os.access(tool, os.X_OK):
            raise _unavailable(f"{tool} is missing")
    with tempfile.TemporaryDirectory(prefix="grader-probe-") as tmp:
        marker = Path(SCRATCH) / f"grader-probe-{os.getpid()}"
        job = Job(
            command=("python", "-c", PROBE_CODE),
            mounts={},
            output_dir=Path(tmp) / "out",
            limits=SandboxLimits(wall_time_s=60, memory_mb=1024),
        )
        try:
            marker.touch()
            run, uid = _run(iso, job, None)
        except PlatformError as exc:
            raise _unavailable(str(exc)) from exc
        finally:
            marker.unlink(missing_ok=True)
    lines = [ln for ln in run.log.splitlines() if ln.startswith("PROBE ")]
    if run.exit_code != 0 or not lines:
        raise _unavailable(f"a trial sandbox failed: {run.log.strip()[-500:] or 'no output'}")
    seen = json.loads(lines[-1][len("PROBE ") :])
    problems = []
    if seen["uid"] == 0 or seen["euid"] == 0 or seen["uid"] != uid:
        problems.append(f"the sandbox ran as uid {seen['uid']}, not {uid}")
    if seen["cap_eff"] != 0 or seen["nnp"] != "1":
        problems.append("capabilities were left or no_new_privs is off")
    if seen["pid"] > 16:  # a fresh PID namespace numbers from 1: bwrap's init, then us
        problems.append(f"no PID namespace of its own (pid {seen['pid']})")
    if seen["net"] != ["lo"]:
        problems.append(f"network interfaces {seen['net']} are visible")
    if marker.name in seen["host_tmp"]:
        problems.append("the host's /tmp is visible")
    if problems:
        raise _unavailable("; ".join(problems))


class _Slot:
    """A concurrent-run slot: its uid, held (a lock file) until the run's sandbox is gone."""

    def __init__(self, uid: int, fd: int | None) -> None:
        self.uid = uid
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing drops the lock
            self.fd = None


def _claim_slot(iso: _Isolation) -> _Slot:
    if not iso.privileged:
        return _Slot(os.geteuid(), None)
    SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
    st = os.lstat(SLOT_DIR)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
        raise PlatformError(f"{SLOT_DIR} must be a folder only root can use")
    for slot in range(SLOTS):
        fd = os.open(SLOT_DIR / f"{slot}.lock", os.O_CREAT | os.O_RDWR | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return _Slot(UID_BASE + slot, fd)
    raise PlatformError(f"all {SLOTS} process sandbox slots are busy")


def _readable_by_all(root: Path) -> bool:
    """True when the sandbox's uid can read the whole tree (walked iteratively, bounded)."""
    todo = [str(root)]
    seen = 0
    while todo:
        path = todo.pop()
        try:
            st = os.lstat(path)
        except OSError:
            return False
        seen += 1
        if seen > MAX_WALK:
            return False
        if stat.S_ISDIR(st.st_mode):
            if st.st_mode & 0o005 != 0o005:
                return False
            try:
                todo.extend(e.path for e in os.scandir(path))
            except OSError:
                return False
        elif stat.S_ISREG(st.st_mode) and not st.st_mode & 0o004:
            return False
    return True


def _copy_readable(src: Path, dst: Path) -> None:
    """Copy plain files and folders (no links), readable by all and writable by none."""
    todo = [(src, dst)]
    made: list[Path] = []
    while todo:
        s, d = todo.pop()
        d.mkdir(mode=0o755)
        made.append(d)
        for e in os.scandir(s):
            if e.is_dir(follow_symlinks=False):
                todo.append((Path(e.path), d / e.name))
            elif e.is_file(follow_symlinks=False):
                shutil.copyfile(e.path, d / e.name)
                os.chmod(d / e.name, 0o444)
    for d in made:
        os.chmod(d, 0o555)  # noqa: S103 - readable, never writable


def _under(path: str, roots: list[str]) -> str | None:
    for root in roots:
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return root
    return None


def _python() -> tuple[str, list[str]]:
    """The interpreter to run inside and the host folders it needs (read-only)."""
    prefix = os.path.realpath(sys.prefix)
    base = os.path.realpath(sys.base_prefix)
    if prefix != base:  # a venv: its own bin/python finds its pyvenv.cfg
        exe = os.path.join(prefix, "bin", os.path.basename(sys.executable))
    else:
        exe = os.path.realpath(sys.executable)
    needed = sorted({prefix, base, os.path.dirname(os.path.realpath(exe))})
    keep: list[str] = []
    for path in needed:  # shortest first: skip what an earlier bind already covers
        if _under(path, ["/usr", *keep]) is None:
            keep.append(path)
    return exe, keep


class _Workspace:
    """The run's host folder (out/, the sandbox's /etc files) and its bubblewrap command."""

    def __init__(self, job: Job, iso: _Isolation, uid: int) -> None:
        self.job = job
        self.dir = Path(tempfile.mkdtemp(prefix="grader-sbx-"))  # 0700: ours only
        out = self.dir / "out"
        out.mkdir(mode=0o700)
        if iso.privileged:
            os.chown(out, uid, uid)
        etc = self.dir / "etc"
        etc.mkdir()
        # Some libraries look their user up (getpass, torch's caches): give it a name.
        (etc / "passwd").write_text(f"sandbox:x:{uid}:{uid}::{SCRATCH}:/usr/sbin/nologin\n")
        (etc / "group").write_text(f"sandbox:x:{uid}:\n")
        (etc / "hosts").write_text("127.0.0.1 localhost sandbox\n")
        for path in etc.iterdir():
            path.chmod(0o444)
        lim = job.limits
        self.env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": SCRATCH,
            "TMPDIR": SCRATCH,
            "PYTHONPATH": HARNESS_ROOT,
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONHASHSEED": "0",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true",
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "KERAS_BACKEND": "tensorflow",
            "KERAS_HOME": f"{SCRATCH}/.keras",
            "MPLCONFIGDIR": SCRATCH,
            "OMP_NUM_THREADS": str(lim.cpus),
            "MKL_NUM_THREADS": str(lim.cpus),
            "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "0") if lim.gpu else "",
            "SANDBOX_OUT": f"{MOUNT_ROOT}/out",
        }
        exe, python_dirs = _python()
        argv = [BWRAP]
        if iso.privileged:
            # No user namespace: as root it would map the sandbox to uid 0 outside.
            argv += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
            argv += ["--unshare-cgroup-try"]
        else:
            argv += ["--unshare-all", "--unshare-user", "--disable-userns"]
        argv += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
        binds: list[tuple[str, str]] = [("/usr", "/usr")]
        for top in SYSTEM_DIRS:  # on a merged /usr these are links into it
            if os.path.islink(top):
                argv += ["--symlink", os.readlink(top), top]
            elif os.path.isdir(top):
                binds.append((top, top))
        binds += [(p, p) for p in ETC_FILES if os.path.exists(p)]
        binds += [(str(etc / n), f"/etc/{n}") for n in ("passwd", "group", "hosts")]
        binds += [(p, p) for p in python_dirs]
        binds.append((os.path.realpath(SANDBOXES_DIR / "harness"), f"{HARNESS_ROOT}/harness"))
        # Scratch first: a Python install under the host's /tmp stays visible, bound on top.
        argv += ["--dev", "/dev", "--proc", "/proc"]
        for scratch, size_mb in _scratch_sizes(lim):
            argv += ["--size", str(size_mb * MB), "--perms", "1777", "--tmpfs", scratch]
        mounts = {f"{MOUNT_ROOT}/{name}" for name in job.mounts} | {f"{MOUNT_ROOT}/out"}
        # bwrap makes missing parent folders 0700 as root: make them enterable first.
        fixed = {"/", "/dev", "/proc", *(path for path, _ in _scratch_sizes(lim))}
        parents = {str(p) for _, dst in binds for p in Path(dst).parents} - fixed
        parents |= {str(p) for dst in mounts for p in Path(dst).parents} - fixed
        for parent in sorted(parents):
            argv += ["--perms", "0755", "--dir", parent]
        for src, dst in binds:
            argv += ["--ro-bind", src, dst]
        if lim.gpu:
            argv += ["--ro-bind", "/sys", "/sys"]
            for dev in sorted(Path("/dev").glob("nvidia*")):
                argv += ["--dev-bind", str(dev), str(dev)]
        for name, given in sorted(job.mounts.items()):
            mount = Path(given).resolve()  # bwrap runs from /: no relative paths
            if not _readable_by_all(mount):  # the slot's uid could not read it: a copy can
                staged = self.dir / "mounts" / name
                staged.parent.mkdir(exist_ok=True)
                _copy_readable(mount, staged)
                mount = staged
            argv += ["--ro-bind", str(mount), f"{MOUNT_ROOT}/{name}"]
            self.env[f"SANDBOX_{name.upper()}"] = f"{MOUNT_ROOT}/{name}"
        argv += ["--bind", str(out), f"{MOUNT_ROOT}/out"]
        # Private paths that happen to lie inside a system bind (a checkout under /usr/src,
        # a var/ inside the venv's folder...): covered where they appear.
        roots = [src for src, dst in binds if src == dst and os.path.isdir(src)]
        for denied in job.deny_paths:
            hide = os.path.realpath(denied)
            inside = _under(hide, roots)
            if inside is None or inside == hide or not os.path.exists(hide):
                continue
            if os.path.isdir(hide):
                argv += ["--tmpfs", hide, "--remount-ro", hide]
            else:
                argv += ["--ro-bind", "/dev/null", hide]
        self.env.update(job.env)
        cwd = f"{MOUNT_ROOT}/entry" if "entry" in job.mounts else SCRATCH
        argv += ["--chdir", cwd, "--"]
        if iso.privileged:
            argv += [SETPRIV, f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
            argv += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        command = list(job.command)
        if command and command[0] == "python":
            command[0] = exe
        self.argv = argv + command
        self.log_path = self.dir / "log.txt"

    def collect(self) -> str | None:
        """Copy plain files from the sandbox's out/ to the job's output dir, within limits;
        why they were refused, if they were (bounded and iterative: grader.outputs)."""
        limits = outputs.TreeLimits.for_output_mb(self.job.limits.output_mb)
        return outputs.collect(self.dir / "out", self.job.output_dir, limits)

    def remove(self) -> None:
        outputs.remove_tree(self.dir)


def _preexec(limits: SandboxLimits, privileged: bool) -> Callable[[], None]:
    def limit() -> None:
        # Runs in the child after fork, before exec of bwrap; inherited by the whole sandbox.
        import resource

        os.umask(0o022)  # the folders bwrap makes for its binds must be enterable
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        fsize = limits.output_mb * MB
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        nofile = limits.max_open_files
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        if privileged:  # counted per uid: per slot
            nproc = limits.max_processes
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        cpus = sorted(os.sched_getaffinity(0))[: limits.cpus]
        os.sched_setaffinity(0, cpus)

    return limit


def _spawn(
    iso: _Isolation, job: Job, slot: _Slot, interactive: bool
) -> tuple[_Workspace, subprocess.Popen[bytes], int]:
    """Start the job's sandbox; returns its workspace, the bwrap process and its status pipe."""
    check_mounts(job)
    ws = _Workspace(job, iso, slot.uid)
    log = open(ws.log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
    status_r, status_w = os.pipe()
    try:
        proc = subprocess.Popen(
            [ws.argv[0], "--json-status-fd", str(status_w), *ws.argv[1:]],
            stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE if interactive else log,
            stderr=log,
            cwd="/",
            env=ws.env,
            preexec_fn=_preexec(job.limits, iso.privileged),  # noqa: PLW1509 - rlimits
            start_new_session=True,
            close_fds=True,
            pass_fds=(status_w,),
        )
    except (OSError, subprocess.SubprocessError) as exc:
        os.close(status_r)
        ws.remove()
        raise PlatformError(f"the process sandbox could not start: {exc}") from exc
    finally:
        log.close()
        os.close(status_w)
    os.set_blocking(status_r, False)
    return ws, proc, status_r


def _tree_pids(leader: int) -> list[int]:
    """The sandbox's processes: bwrap and every descendant (the namespace's init is a child
    of bwrap, and every orphan in the namespace is re-parented to that init)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat_line = f.read()
        except OSError:
            continue
        ppid = int(stat_line[stat_line.rfind(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    members = [leader]
    todo = [leader]
    while todo:
        for child in children.get(todo.pop(), []):
            members.append(child)
            todo.append(child)
    return members


def _rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total * PAGE / MB


def _scratch_sizes(limits: SandboxLimits) -> tuple[tuple[str, int], ...]:
    """The sandbox's own tmpfs folders and their sizes in MB (/tmp as in the Docker sandbox)."""
    return ((SCRATCH, max(64, min(1024, limits.memory_mb // 4))), (SHM, SHM_MB))


def _scratch_mb(init: int | None, limits: SandboxLimits) -> float:
    """What the sandbox keeps in its own /tmp and /dev/shm (memory, not counted in RSS)."""
    if init is None:
        return 0.0
    used = 0
    for path, size_mb in _scratch_sizes(limits):
        try:
            st = os.statvfs(f"/proc/{init}/root{path}")
        except OSError:
            continue
        # Only the sandbox's own tmpfs (its size tells it): while bwrap is still setting up,
        # that path is the host's folder, which is not the run's memory.
        if st.f_blocks * st.f_frsize == size_mb * MB:
            used += (st.f_blocks - st.f_bfree) * st.f_frsize
    return used / MB


class _Watch:
    """Wall-clock and memory watchdog for one sandbox, and bubblewrap's status reports."""

    def __init__(self, proc: subprocess.Popen[bytes], limits: SandboxLimits, status: int) -> None:
        self.proc = proc
        self.limits = limits
        self.status_fd = status
        self.status = b""
        self.started = time.monotonic()
        self.deadline = self.started + limits.wall_time_s
        self.peak_mb = 0.0
        self.timed_out = False
        self.oom = False
        self.killed = False

    def _reports(self) -> dict[str, int]:
        try:
            while chunk := os.read(self.status_fd, 65536):
                self.status += chunk
        except (BlockingIOError, OSError):
            pass
        seen: dict[str, int] = {}
        for line in self.status.splitlines():
            try:
                seen.update(json.loads(line))
            except ValueError:
                continue
        return seen

    def check(self) -> bool:
        """One look at the sandbox; True while it still runs."""
        if self.proc.poll() is not None:
            return False
        rss = _rss_mb(_tree_pids(self.proc.pid))
        rss += _scratch_mb(self._reports().get("child-pid"), self.limits)
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
        # Killing the namespace's init kills every process in the namespace.
        self.killed = self.killed or self.proc.poll() is None
        for pid in reversed(_tree_pids(self.proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def finish(self, log_path: Path) -> RunResult:
        if self.proc.poll() is None:
            self.kill()
        self.proc.wait()
        wall = time.monotonic() - self.started
        reports = self._reports()
        os.close(self.status_fd)
        self.status_fd = -1
        code = reports.get("exit-code")
        log = _read_log(log_path, self.limits.log_bytes)
        if code is None and not self.killed:
            # bwrap itself failed to set the sandbox up: nothing of the entry ran.
            raise PlatformError(f"the process sandbox could not start: {log.strip()[-500:]}")
        if code is not None and 128 < code <= 128 + 64:
            code = -(code - 128)  # bwrap reports a signal as 128+N; say it like Popen does
        return RunResult(
            exit_code=code if code is not None else self.proc.returncode,
            timed_out=self.timed_out,
            oom=self.oom,
            wall_time_s=round(wall, 3),
            peak_memory_mb=round(self.peak_mb, 1),
            log=log,
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


def _run(iso: _Isolation, job: Job, on_tick: Callable[[], None] | None) -> tuple[RunResult, int]:
    """Run one job to completion in its own sandbox; returns the result and the uid used."""
    slot = _claim_slot(iso)
    try:
        ws, proc, status = _spawn(iso, job, slot, interactive=False)
        watch = _Watch(proc, job.limits, status)
        next_tick = time.monotonic() + 1.0
        try:
            while watch.check():
                try:
                    proc.wait(POLL_S)  # returns as soon as the sandbox ends
                except subprocess.TimeoutExpired:
                    pass
                if on_tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + 1.0
                    on_tick()
            result = watch.finish(ws.log_path)
            result.output_error = ws.collect()
            return result, slot.uid
        finally:
            watch.kill()
            proc.wait()
            if watch.status_fd >= 0:
                os.close(watch.status_fd)
            ws.remove()
    finally:
        slot.release()


class ProcessBackend(Backend):
    name = "process"
    image_digest = None

    def __init__(self) -> None:
        self._iso = probe()  # PlatformError when the sandbox cannot be had: refuse to grade
        self.isolation = self._iso.words()

    def describe(self) -> dict[str, str]:
        privileged = self._iso.privileged
        return {
            "backend": self.name,
            "isolation": self.isolation,
            "sandbox": "bubblewrap",
            "namespaces": "pid, net, ipc, uts" + ("" if privileged else ", user"),
            "network isolation": "own network namespace (loopback only)",
            "filesystem": "allow-list: system /usr, Python, harness, the job's mounts; "
            "private /tmp and /dev/shm",
            "user": f"uid {UID_BASE}+slot ({SLOTS} slots)"
            if privileged
            else f"uid {os.geteuid()} (the invoking user)",
        }

    def run(self, job: Job, on_tick: Callable[[], None] | None = None) -> RunResult:
        result, uid = _run(self._iso, job, on_tick)
        self.isolation = self._iso.words(uid)
        return result

    def start_session(self, job: Job) -> Session:
        slot = _claim_slot(self._iso)
        try:
            ws, proc, status = _spawn(self._iso, job, slot, interactive=True)
        except BaseException:
            slot.release()
            raise
        self.isolation = self._iso.words(slot.uid)
        return ProcessSession(ws, proc, status, slot)


class ProcessSession(Session):
    def __init__(
        self, ws: _Workspace, proc: subprocess.Popen[bytes], status: int, slot: _Slot
    ) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self.ws = ws
        self.proc = proc
        self.slot = slot
        self.watch = _Watch(proc, ws.job.limits, status)
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
            self.watch.kill()
            self.proc.wait()
            if self.watch.status_fd >= 0:
                os.close(self.watch.status_fd)
                self.watch.status_fd = -1
            self.ws.remove()
            self.slot.release()
