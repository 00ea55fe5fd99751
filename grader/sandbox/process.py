"""The process backend: each run in its own bubblewrap sandbox (the demo's and the CLI's default).

It has Docker's walls (docs/architecture.md, trust boundary item 7). Every run starts `bwrap`
(Debian's bubblewrap) with its own PID, network, IPC and UTS namespaces, a root filesystem
that holds only what the run needs (read-only: the system's /usr, the Python install, the
harness, the job's mounts), its own small tmpfs /tmp and /dev/shm, its output folder `out/`
as a tmpfs capped at the lab's output_mb (a write past it fails with ENOSPC inside, the host's
disk never fills), a fresh /dev and /proc, no network but loopback, and so no filesystem or
abstract Unix socket of the host. Nothing else of the host is visible: not the hidden data,
not the platform's var/ (database, broker folder, logs, caches), not the media. A seccomp
filter at least as strict as Docker's default (grader.sandbox.seccomp) is installed by
bubblewrap just before the run's command starts.

Run by root (the worker, CI, the demo), each concurrent run claims a slot (a lock file) and
its entry runs as that slot's own unprivileged uid (UID_BASE + slot) via `setpriv`, with no
capabilities, an empty bounding set and no_new_privs; so runs cannot signal, trace or read
each other and the per-user process limit is per slot. What that uid leaves in the kernel
and the host (keyrings, SysV IPC, processes, files in /tmp...) is cleared when the slot is
released (grader.sandbox.uidstate). Run by anyone else (a student's CLI),
bubblewrap uses an unprivileged user namespace and the entry keeps that user's own uid.
Entries never run as root: if bubblewrap cannot give all this, the backend refuses to grade
(`PlatformError`) and says why; there is no weaker mode to fall back to.

Memory, processes and CPU are limited by a cgroup per run where the host has cgroups this
process may make (root, or a delegated v2 cgroup; grader.sandbox.cgroups): the kernel counts
memfd, tmpfs and shared memory pages, kills at the limit, and the run's OOM kills are read
back; a CPU quota and cpuset hold whatever affinity the entry sets. Where no cgroup can be had,
the watchdog measures every process's resident size plus the run's tmpfs folders and the
memfds its processes hold, kills the run past the limit, and the filter forbids
sched_setaffinity so the entry stays on the CPUs it was given. `/health/` and each receipt
name the walls that held.

The run's namespace dies whole: when its main process ends, bubblewrap's init (PID 1 in the
namespace) exits and the kernel kills every process left in it, a double-forked `setsid`
daemon included; on a timeout or for memory the watchdog kills that init (and the cgroup's
processes). Memory is never limited with RLIMIT_AS, because TensorFlow reserves far more
virtual memory than it touches.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
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
from grader.sandbox import cgroups, seccomp, uidstate
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
# The slot uids are the machine's, so are their locks: one folder whatever TMPDIR says (two
# workers with different TMPDIRs would otherwise share uids without sharing locks, and each
# would clear the other's processes when it released a slot).
SLOT_DIR = Path("/run/labgrader-sandbox-slots") / str(UID_BASE)
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
OUT = f"{MOUNT_ROOT}/out"
SETUP_S = 30.0  # bubblewrap's own set-up (mounts) before the entry starts
MAX_FDS = 50_000  # open files looked at per watchdog look for memfds (no cgroup)
KILL_WAIT_S = 5.0  # for a killed sandbox's processes to be gone


@dataclass(frozen=True)
class _Isolation:
    """What this process can give a run; found once, by the probe, before any entry runs."""

    privileged: bool  # run by root: a slot uid per run via setpriv
    cgroup: cgroups.Host | None = None  # None: the watchdog counts memory, affinity is fixed

    @property
    def cgroup_holds_cpus(self) -> bool:
        """A CPU quota or cpuset holds the lab's cpus whatever affinity the entry sets;
        without either, the filter forbids sched_setaffinity."""
        return self.cgroup is not None and bool({"cpu", "cpuset"} & set(self.cgroup.bases))

    def limits(self) -> str:
        if self.cgroup is None:
            return "no cgroup: watchdog on RSS+tmpfs+memfd, affinity fixed"
        return self.cgroup.words() + ("" if self.cgroup_holds_cpus else ", affinity fixed")

    def words(self, uid: int | None = None, out_mb: int | None = None) -> str:
        """The receipt's line: the walls that held (with the run's uid and out/ once known)."""
        if self.privileged:
            who = f"uid {uid}" if uid is not None else f"uid {UID_BASE}+slot"
            spaces = "pid+net+ipc+uts namespaces"
        else:
            who = f"uid {os.geteuid() if uid is None else uid} (no slot uids without root)"
            spaces = "user+pid+net+ipc+uts namespaces"
        out = f"out/ tmpfs {out_mb} MB" if out_mb is not None else "out/ tmpfs of output_mb"
        return (
            f"process (bubblewrap: {spaces}, seccomp ({seccomp.NAME}), {self.limits()}, "
            f"{out}, {who}, private /tmp and /dev/shm)"
        )


_ISOLATION: _Isolation | None = None
_PROBE_LOCK = threading.Lock()

PROBE_CODE = """
import ctypes, importlib.util, json, os, socket
assert importlib.util.find_spec("numpy"), "the harness's packages are not reachable"
status = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
# keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_USER_KEYRING, 0): the filter must refuse it.
keyctl = libc.syscall(ctypes.c_long(250), ctypes.c_long(0), ctypes.c_long(-4), ctypes.c_long(0))
out = os.environ["SANDBOX_OUT"]
open(os.path.join(out, "probe"), "w").write("x")
st = os.statvfs(out)
print("PROBE " + json.dumps({
    "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
    "cap_eff": int(status["CapEff"], 16), "nnp": status["NoNewPrivs"].strip(),
    "seccomp": status["Seccomp"].strip(), "keyctl": ctypes.get_errno() if keyctl < 0 else 0,
    "out_bytes": st.f_blocks * st.f_frsize,
    "net": [n for _, n in socket.if_nameindex()],
    "host_tmp": sorted(os.listdir("/tmp")), "pid": os.getpid(),
}))
"""


def probe() -> _Isolation:
    """The isolation this process gives every run, or PlatformError saying why there is none.

    Run once per process before its first entry (the worker's, the CLI's), by starting a real
    sandbox exactly as an entry gets it and checking from inside what it got. A success is
    kept; a failure is not (the next grade probes again) and nothing weaker is ever tried.
    Whether runs get a cgroup is decided here, once: afterwards a run whose cgroup cannot be
    made is refused, never run without one.
    """
    global _ISOLATION
    with _PROBE_LOCK:
        if _ISOLATION is None:
            iso = _Isolation(privileged=os.geteuid() == 0, cgroup=cgroups.host())
            _check_isolation(iso)
            _ISOLATION = iso
        return _ISOLATION


def _unavailable(why: str) -> PlatformError:
    return PlatformError(
        f"the process sandbox is unavailable: {why}. It needs bubblewrap "
        "(apt-get install bubblewrap), libseccomp (libseccomp2) and, run as root, "
        "util-linux's setpriv; or grade with the docker backend"
    )


def _check_isolation(iso: _Isolation) -> None:
    for tool in (BWRAP, SETPRIV) if iso.privileged else (BWRAP,):
        if not os.access(tool, os.X_OK):
            raise _unavailable(f"{tool} is missing")
    try:
        seccomp.program(allow_affinity=iso.cgroup_holds_cpus)
    except PlatformError as exc:
        raise _unavailable(str(exc)) from exc
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
            run, uid, cgroup_used = _run(iso, job, None)
        except PlatformError as exc:
            raise _unavailable(str(exc)) from exc
        finally:
            marker.unlink(missing_ok=True)
        collected = (Path(tmp) / "out" / "probe").is_file()
    lines = [ln for ln in run.log.splitlines() if ln.startswith("PROBE ")]
    if run.exit_code != 0 or not lines:
        raise _unavailable(f"a trial sandbox failed: {run.log.strip()[-500:] or 'no output'}")
    seen = json.loads(lines[-1][len("PROBE ") :])
    problems = []
    if seen["uid"] == 0 or seen["euid"] == 0 or seen["uid"] != uid:
        problems.append(f"the sandbox ran as uid {seen['uid']}, not {uid}")
    if seen["cap_eff"] != 0 or seen["nnp"] != "1":
        problems.append("capabilities were left or no_new_privs is off")
    if seen["seccomp"] != "2" or seen["keyctl"] != errno.EPERM:
        problems.append("the seccomp filter was not in force")
    if seen["out_bytes"] != job.limits.output_mb * MB or not collected:
        problems.append("out/ was not a size-capped tmpfs whose files come back")
    if iso.cgroup is not None and not cgroup_used:
        problems.append("the run's cgroup held none of its processes")
    if seen["pid"] > 16:  # a fresh PID namespace numbers from 1: bwrap's init, then us
        problems.append(f"no PID namespace of its own (pid {seen['pid']})")
    if seen["net"] != ["lo"]:
        problems.append(f"network interfaces {seen['net']} are visible")
    if marker.name in seen["host_tmp"]:
        problems.append("the host's /tmp is visible")
    if problems:
        raise _unavailable("; ".join(problems))


class _Slot:
    """A concurrent-run slot: its uid, held (a lock file) until the run's sandbox is gone.

    A slot uid's per-uid state (keyrings, SysV IPC, processes, files in the host's shared
    folders) is cleared when the slot is released; the lock file says "dirty" until then, so
    that the next claimer clears what a worker that died holding the slot left."""

    def __init__(self, uid: int, index: int, fd: int | None) -> None:
        self.uid = uid
        self.index = index  # spreads the runs over the CPUs
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            try:
                uidstate.clear(self.uid)
                os.ftruncate(self.fd, 0)  # clean
            finally:
                os.close(self.fd)  # closing drops the lock
                self.fd = None


_RUNS = itertools.count()
DIRTY = b"dirty"


def _claim_slot(iso: _Isolation) -> _Slot:
    if not iso.privileged:
        return _Slot(os.geteuid(), next(_RUNS), None)
    SLOT_DIR.parent.mkdir(mode=0o700, exist_ok=True)
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
        try:
            if os.pread(fd, len(DIRTY), 0) == DIRTY:  # its last holder died before clearing
                uidstate.clear(UID_BASE + slot)
            os.pwrite(fd, DIRTY, 0)
        except BaseException:
            os.close(fd)
            raise
        return _Slot(UID_BASE + slot, slot, fd)
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
    """The run's host folder (the sandbox's /etc files, its log), its bubblewrap command,
    and once the sandbox is set up, a descriptor of its out/ tmpfs (`out_fd`).

    out/ lives only in the sandbox's mount namespace; the worker opens it through
    /proc/<pid>/root while bubblewrap waits (--block-fd) before starting the entry. That
    descriptor keeps the tmpfs readable after the namespace is gone, until it is closed."""

    def __init__(self, job: Job, iso: _Isolation, uid: int) -> None:
        self.job = job
        self.dir = Path(tempfile.mkdtemp(prefix="grader-sbx-"))  # 0700: ours only
        self.out_fd = -1
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
            "SANDBOX_OUT": OUT,
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
        mounts = {f"{MOUNT_ROOT}/{name}" for name in job.mounts} | {OUT}
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
        # Like Docker's tmpfs outputs: a write past the lab's output_mb fails with ENOSPC.
        argv += ["--perms", "1777", "--size", str(lim.output_mb * MB), "--tmpfs", OUT]
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
        if self.out_fd < 0:
            return "your entry's output folder cannot be read (the sandbox never started)"
        return outputs.collect(self.out_fd, self.job.output_dir, limits)

    def out_mb(self) -> float:
        """What the run keeps in out/ now (tmpfs: memory, not in any process's RSS)."""
        if self.out_fd < 0:
            return 0.0
        try:
            st = os.fstatvfs(self.out_fd)
        except OSError:
            return 0.0
        return (st.f_blocks - st.f_bfree) * st.f_frsize / MB

    def remove(self) -> None:
        if self.out_fd >= 0:
            os.close(self.out_fd)  # the tmpfs and what it holds go with the last descriptor
            self.out_fd = -1
        outputs.remove_tree(self.dir)


def _preexec(
    limits: SandboxLimits, privileged: bool, cpus: list[int], cgroup: cgroups.RunCgroup | None
) -> Callable[[], None]:
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
        if cgroup is not None:
            cgroup.join()
        os.sched_setaffinity(0, cpus)

    return limit


class _Status:
    """bubblewrap's reports on --json-status-fd (child-pid, then exit-code), read without
    blocking."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def reports(self) -> dict[str, int]:
        if self.fd >= 0:
            try:
                while chunk := os.read(self.fd, 65536):
                    self.buffer += chunk
            except (BlockingIOError, OSError):
                pass
        seen: dict[str, int] = {}
        for line in self.buffer.splitlines():
            try:
                seen.update(json.loads(line))
            except ValueError:
                continue
        return seen

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


@dataclass
class _Sandbox:
    """A started sandbox: its workspace, bubblewrap's process, its reports and its cgroup."""

    ws: _Workspace
    proc: subprocess.Popen[bytes]
    status: _Status
    cgroup: cgroups.RunCgroup | None
    init_fd: int = -1  # a pidfd of the namespace's init: it exits after all the others

    def kill(self) -> bool:
        """SIGKILL the sandbox (its namespace's init takes every process in it along);
        True if it was still running."""
        running = self.proc.poll() is None
        for pid in reversed(_tree_pids(self.proc.pid)):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        return running

    def close(self) -> None:
        """Whatever happened: nothing of the run is left (processes, out/, cgroup, files)."""
        try:
            self.kill()
            self.proc.wait()
            if self.init_fd >= 0:
                # The kernel kills the namespace's processes when its init dies, and the init
                # is gone only once they all are: the slot is then free of them.
                select.select([self.init_fd], [], [], KILL_WAIT_S)
                os.close(self.init_fd)
                self.init_fd = -1
            self.status.close()
            self.ws.remove()
        finally:
            if self.cgroup is not None:
                self.cgroup.remove()


def _open_out(proc: subprocess.Popen[bytes], status: _Status, size: int) -> int:
    """A descriptor of the sandbox's out/ tmpfs, opened while bubblewrap waits on --block-fd
    (its mounts done, the entry not started: the namespace's init is `child-pid`); -1 if
    bubblewrap ended first."""
    deadline = time.monotonic() + SETUP_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return -1
        child = status.reports().get("child-pid")
        if child is not None:
            path = f"/proc/{child}/root{OUT}"
            try:
                # Until bubblewrap switches to the new root this is the host's path: only the
                # sandbox's own tmpfs has the run's size.
                st = os.statvfs(path)
                if st.f_blocks * st.f_frsize == size:
                    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                    st = os.fstatvfs(fd)
                    if st.f_blocks * st.f_frsize == size:
                        return fd
                    os.close(fd)
            except OSError:
                pass
        time.sleep(0.002)
    raise PlatformError(f"the process sandbox did not set up within {SETUP_S:g} s")


def _spawn(iso: _Isolation, job: Job, slot: _Slot, interactive: bool) -> _Sandbox:
    """Start the job's sandbox, in its cgroup, under the seccomp filter; the entry starts
    once the worker holds its out/."""
    check_mounts(job)
    lim = job.limits
    cpus = cgroups.choose_cpus(lim.cpus, slot.index)
    cgroup = None
    if iso.cgroup is not None:
        cgroup = cgroups.RunCgroup(iso.cgroup, lim.memory_mb, lim.max_processes, cpus)
    try:
        ws = _Workspace(job, iso, slot.uid)
    except BaseException:
        if cgroup is not None:
            cgroup.remove()
        raise
    log = open(ws.log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
    status_r, status_w = os.pipe()
    block_r, block_w = os.pipe()
    filter_fd = -1
    try:
        filter_fd = seccomp.program_fd(allow_affinity=iso.cgroup_holds_cpus)
        fds = ["--json-status-fd", str(status_w), "--block-fd", str(block_r)]
        fds += ["--seccomp", str(filter_fd)]
        proc = subprocess.Popen(
            [ws.argv[0], *fds, *ws.argv[1:]],
            stdin=subprocess.PIPE if interactive else subprocess.DEVNULL,
            stdout=subprocess.PIPE if interactive else log,
            stderr=log,
            cwd="/",
            env=ws.env,
            preexec_fn=_preexec(lim, iso.privileged, cpus, cgroup),  # noqa: PLW1509 - rlimits
            start_new_session=True,
            close_fds=True,
            pass_fds=(status_w, block_r, filter_fd),
        )
    except BaseException as exc:
        os.close(status_r)
        os.close(block_w)
        ws.remove()
        if cgroup is not None:
            cgroup.remove()
        if isinstance(exc, OSError | subprocess.SubprocessError | PlatformError):
            raise PlatformError(f"the process sandbox could not start: {exc}") from exc
        raise
    finally:
        log.close()
        for fd in (status_w, block_r, filter_fd):
            if fd >= 0:
                os.close(fd)
    os.set_blocking(status_r, False)
    box = _Sandbox(ws, proc, _Status(status_r), cgroup)
    try:
        ws.out_fd = _open_out(proc, box.status, lim.output_mb * MB)
        if ws.out_fd >= 0:
            box.init_fd = os.pidfd_open(box.status.reports()["child-pid"])
        try:
            os.write(block_w, b"x")  # the entry may start
        except BrokenPipeError:
            pass  # bubblewrap already ended: finish() says why
    except BaseException:
        box.close()
        raise
    finally:
        os.close(block_w)
    return box


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


def _memfd_mb(pids: list[int]) -> float:
    """memfds the sandbox's processes hold open (each counted once): memory no RSS shows
    until it is mapped. Bounded: at most MAX_FDS descriptors are looked at."""
    seen: set[tuple[int, int]] = set()
    total = 0
    looked = 0
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            looked += 1
            if looked > MAX_FDS:
                return total / MB
            path = f"/proc/{pid}/fd/{fd}"
            try:
                if not os.readlink(path).startswith("/memfd:"):
                    continue
                st = os.stat(path)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total / MB


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
    """Wall-clock and memory watchdog for one sandbox.

    With a cgroup, the watchdog reads what the run holds there (anonymous and shared memory:
    memfd and tmpfs pages included) and stops it past the lab's limit; the kernel's OOM
    killer holds a hard limit a little above it (room for page cache), and its kills are
    read back. Without a cgroup, the watchdog measures the run itself (resident size, tmpfs
    folders, out/, memfds) and stops it past the limit."""

    def __init__(self, box: _Sandbox, limits: SandboxLimits) -> None:
        self.box = box
        self.proc = box.proc
        self.limits = limits
        self.started = time.monotonic()
        self.deadline = self.started + limits.wall_time_s
        self.peak_mb = 0.0
        self.timed_out = False
        self.oom = False
        self.killed = False

    def _memory_mb(self) -> float:
        cgroup = self.box.cgroup
        if cgroup is not None:
            return cgroup.memory_mb()
        pids = _tree_pids(self.proc.pid)
        used = _rss_mb(pids) + _memfd_mb(pids) + self.box.ws.out_mb()
        return used + _scratch_mb(self.box.status.reports().get("child-pid"), self.limits)

    def check(self) -> bool:
        """One look at the sandbox; True while it still runs."""
        if self.proc.poll() is not None:
            return False
        cgroup = self.box.cgroup
        used = self._memory_mb()
        self.peak_mb = max(self.peak_mb, used)
        if (cgroup is not None and cgroup.oom_kills()) or used > self.limits.memory_mb:
            self.oom = True
            self.kill()
            return False
        if time.monotonic() > self.deadline:
            self.timed_out = True
            self.kill()
            return False
        return True

    def kill(self) -> None:
        self.killed = self.box.kill() or self.killed

    def finish(self) -> RunResult:
        if self.proc.poll() is None:
            self.kill()
        self.proc.wait()
        wall = time.monotonic() - self.started
        cgroup = self.box.cgroup
        if cgroup is not None and cgroup.oom_kills():
            # The kernel killed at its hard limit, above the lab's: the run outran the
            # watchdog's looks (or died just before the run ended).
            self.oom = True
            self.peak_mb = max(self.peak_mb, float(self.limits.memory_mb))
        code = self.box.status.reports().get("exit-code")
        log = _read_log(self.box.ws.log_path, self.limits.log_bytes)
        if code is None and not self.killed and not self.oom:
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


def _run(
    iso: _Isolation, job: Job, on_tick: Callable[[], None] | None
) -> tuple[RunResult, int, bool]:
    """Run one job to completion in its own sandbox; returns the result, the uid used and
    whether the run's cgroup held its processes."""
    slot = _claim_slot(iso)
    try:
        box = _spawn(iso, job, slot, interactive=False)
        try:
            watch = _Watch(box, job.limits)
            next_tick = time.monotonic() + 1.0
            while watch.check():
                try:
                    box.proc.wait(POLL_S)  # returns as soon as the sandbox ends
                except subprocess.TimeoutExpired:
                    pass
                if on_tick is not None and time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + 1.0
                    on_tick()
            result = watch.finish()
            result.output_error = box.ws.collect()
            return result, slot.uid, box.cgroup is not None and box.cgroup.was_used()
        finally:
            box.close()
    finally:
        slot.release()


class ProcessBackend(Backend):
    name = "process"
    image_digest = None

    def __init__(self) -> None:
        self._iso = probe()  # PlatformError when the sandbox cannot be had: refuse to grade
        self.isolation = self._iso.words()

    def describe(self) -> dict[str, str]:
        iso = self._iso
        return {
            "backend": self.name,
            "isolation": self.isolation,
            "sandbox": "bubblewrap",
            "namespaces": "pid, net, ipc, uts" + ("" if iso.privileged else ", user"),
            "network isolation": "own network namespace (loopback only)",
            "seccomp": f"{seccomp.NAME}: Docker's default allow-list, stricter (no ptrace, "
            "keyring, bpf, perf_event_open, userfaultfd, mount or namespace calls)"
            + ("" if iso.cgroup_holds_cpus else "; no sched_setaffinity"),
            "limits": iso.limits(),
            "filesystem": "allow-list: system /usr, Python, harness, the job's mounts; "
            "private /tmp and /dev/shm; out/ a tmpfs of the lab's output_mb",
            "user": f"uid {UID_BASE}+slot ({SLOTS} slots; keyrings, SysV IPC, processes and "
            "shared-folder files of the uid cleared on release)"
            if iso.privileged
            else f"uid {os.geteuid()} (the invoking user)",
        }

    def run(self, job: Job, on_tick: Callable[[], None] | None = None) -> RunResult:
        result, uid, _ = _run(self._iso, job, on_tick)
        self.isolation = self._iso.words(uid, job.limits.output_mb)
        return result

    def start_session(self, job: Job) -> Session:
        slot = _claim_slot(self._iso)
        try:
            box = _spawn(self._iso, job, slot, interactive=True)
        except BaseException:
            slot.release()
            raise
        self.isolation = self._iso.words(slot.uid, job.limits.output_mb)
        return ProcessSession(box, slot)


class ProcessSession(Session):
    def __init__(self, box: _Sandbox, slot: _Slot) -> None:
        proc = box.proc
        assert proc.stdin is not None and proc.stdout is not None
        self.box = box
        self.proc = proc
        self.slot = slot
        self.watch = _Watch(box, box.ws.job.limits)
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
            self.result = self.watch.finish()
            self.result.output_error = self.box.ws.collect()
            assert self.proc.stdout is not None
            self.proc.stdout.close()
            return self.result
        finally:
            try:
                self.box.close()
            finally:
                self.slot.release()
