"""A cgroup per process-sandbox run: its memory, process and CPU limits, held by the kernel.

The memory controller counts what no process's resident size shows (memfd, tmpfs and shared
memory pages) and its limit is enforced by the kernel's OOM killer; the run's OOM kills are
read back from the cgroup, so an OOM is reported as one. The CPU limit holds whatever the
entry does with its affinity: a CFS quota of `cpus` CPUs (cpu.cfs_quota_us / cpu.max), and
a cpuset of that many CPUs, which sched_setaffinity cannot widen.

Both cgroup versions are supported. v1 (a hierarchy per controller under /sys/fs/cgroup/<c>)
and v2 (one unified hierarchy): the runs' cgroups go under the worker's own cgroup, in a
folder `labgrader-sandbox`, each named after the worker process that made it (its PID
namespace, PID and start time), so that the cgroups of a worker that died (a crash, a
SIGKILL) are found and removed the next time a worker starts, and no live worker's runs are
touched. On v2 the worker's cgroup must be delegated to it (root, or systemd's Delegate=yes):
where it holds processes, they are first moved into a leaf `labgrader-worker`, since v2 lets
only a cgroup without processes hand controllers to its children.

Where no cgroup can be had (not root, no delegation, a read-only cgroup file system), `host()`
says why, and the sandbox falls back to its own watchdog (see grader.sandbox.process).
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import signal
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from grader.errors import PlatformError

log = logging.getLogger(__name__)

CONTROLLERS = ("memory", "pids", "cpu", "cpuset")
REQUIRED = ("memory", "pids")  # without both, no cgroup: the watchdog counts memory itself
PARENT = "labgrader-sandbox"
WORKER_LEAF = "labgrader-worker"
CFS_PERIOD_US = 100_000
MB = 1024 * 1024
KILL_WAIT_S = 5.0
HEADROOM_MB = 64  # page cache above the lab's limit, before the kernel's hard limit


@dataclass(frozen=True)
class Host:
    """Where this worker makes its runs' cgroups: the version and, per controller, the
    folder that holds them (on v2 one folder for every controller)."""

    version: int
    bases: Mapping[str, Path]

    @property
    def controllers(self) -> tuple[str, ...]:
        return tuple(c for c in CONTROLLERS if c in self.bases)

    def words(self) -> str:
        return f"cgroup v{self.version} " + "+".join(self.controllers)

    def folders(self) -> list[Path]:
        return sorted(set(self.bases.values()))


def _read(path: Path) -> str:
    with open(path) as f:
        return f.read()


def _write(path: Path, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _own_paths() -> dict[str, str]:
    """The worker's own cgroup per hierarchy: v1 controller names, and "" for v2."""
    paths: dict[str, str] = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, names, path = parts
        for name in names.split(",") if names else [""]:
            paths[name] = path
    return paths


def _mounts() -> tuple[dict[str, tuple[Path, str]], tuple[Path, str] | None]:
    """v1 mounts per controller, and the v2 mount: (mount point, root inside the hierarchy)."""
    v1: dict[str, tuple[Path, str]] = {}
    v2: tuple[Path, str] | None = None
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        fields = line.split()
        try:
            sep = fields.index("-")
        except ValueError:
            continue
        root, point = fields[3], fields[4].replace("\\040", " ")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",")
        if fstype == "cgroup":
            for name in set(options) & set(CONTROLLERS):
                v1.setdefault(name, (Path(point), root))
        elif fstype == "cgroup2" and v2 is None:
            v2 = (Path(point), root)
    return v1, v2


def _folder(mount: tuple[Path, str], own: str) -> Path:
    point, root = mount
    rel = own[len(root) :] if root != "/" and own.startswith(root) else own
    return point / rel.lstrip("/")


def _run_prefix() -> str:
    return f"run-{_me()}-"


def _me() -> str:
    """This process, as named in its runs' cgroups: PID namespace, PID and start time."""
    return _identity(os.getpid()) or f"{os.stat('/proc/self/ns/pid').st_ino}-{os.getpid()}-0"


def _identity(pid: int) -> str | None:
    try:
        ns = os.stat(f"/proc/{pid}/ns/pid").st_ino
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat_line = f.read()
    except OSError:
        return None
    start = stat_line[stat_line.rfind(b")") + 2 :].split()[19].decode()
    return f"{ns}-{pid}-{start}"


def _stale(name: str) -> bool:
    """A run cgroup whose worker is gone: same PID namespace as ours, and that PID is now
    dead or another process (its start time differs)."""
    parts = name.split("-")
    if len(parts) != 5 or parts[0] != "run":
        return False
    ns, pid = parts[1], parts[2]
    if not (pid.isdigit() and str(os.stat("/proc/self/ns/pid").st_ino) == ns):
        return False
    return _identity(int(pid)) != "-".join(parts[1:4])


def _v1_host(v1: dict[str, tuple[Path, str]], own: dict[str, str]) -> Host | None:
    bases: dict[str, Path] = {}
    for name in CONTROLLERS:
        if name not in v1 or name not in own:
            continue
        mine = _folder(v1[name], own[name])
        base = mine / PARENT
        try:
            base.mkdir(exist_ok=True)
            if name == "cpuset":
                # A v1 cpuset starts empty: its CPUs and memory nodes are copied from above.
                for key in ("cpuset.cpus", "cpuset.mems"):
                    if not _read(base / key).strip():
                        _write(base / key, _read(mine / key).strip())
            _can_make(base)
        except OSError as exc:
            log.info("no %s cgroup for the sandbox's runs under %s: %s", name, mine, exc)
            continue
        bases[name] = base
    if not all(name in bases for name in REQUIRED):
        return None
    return Host(1, bases)


def _can_make(base: Path) -> None:
    """Raise OSError unless this process may make (and remove) a cgroup in `base` (the
    folder may exist, made by root, where this process may not write)."""
    trial = base / f"{_run_prefix()}trial"
    trial.mkdir()
    trial.rmdir()


def _enable(folder: Path, names: list[str]) -> None:
    _write(folder / "cgroup.subtree_control", " ".join(f"+{n}" for n in names))


def _v2_host(mount: tuple[Path, str], own: str) -> Host | None:
    mine = _folder(mount, own)
    try:
        offered = _read(mine / "cgroup.controllers").split()
    except OSError:
        return None
    names = [n for n in CONTROLLERS if n in offered]
    if not all(n in names for n in REQUIRED):
        return None
    base = mine / PARENT
    try:
        base.mkdir(exist_ok=True)
        try:
            _enable(mine, names)
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                raise
            # v2 hands controllers down only from a cgroup without processes: move this
            # cgroup's processes (the worker's) into a leaf beside the runs' folder first.
            leaf = mine / WORKER_LEAF
            leaf.mkdir(exist_ok=True)
            for pid in _read(mine / "cgroup.procs").split():
                try:
                    _write(leaf / "cgroup.procs", pid)
                except OSError as move_exc:
                    if move_exc.errno != errno.ESRCH:
                        raise
            _enable(mine, names)
        _enable(base, names)
        enabled = _read(base / "cgroup.subtree_control").split()
        _can_make(base)
    except OSError as exc:
        log.info("no cgroup v2 for the sandbox's runs under %s: %s", mine, exc)
        return None
    if not all(n in enabled for n in REQUIRED):
        return None
    return Host(2, {n: base for n in CONTROLLERS if n in enabled})


_HOST_LOCK = threading.Lock()


def host() -> Host | None:
    """The cgroups this process can make for its runs, or None where it can make none.

    Looked at once per worker process (by the sandbox's probe). Cgroups left by dead
    workers are removed here."""
    with _HOST_LOCK:
        try:
            v1, v2 = _mounts()
            own = _own_paths()
        except OSError:
            return None
        found: Host | None = None
        if "memory" in v1:
            found = _v1_host(v1, own)
        elif v2 is not None and "" in own:
            found = _v2_host(v2, own[""])
        if found is not None:
            sweep(found)
        return found


def _procs(folder: Path) -> list[int]:
    try:
        return [int(p) for p in _read(folder / "cgroup.procs").split()]
    except (OSError, ValueError):
        return []


def _kill_all(folders: list[Path]) -> bool:
    """SIGKILL every process in the cgroup (in all its folders) until none is left."""
    for folder in folders:
        try:
            _write(folder / "cgroup.kill", "1")  # v2 on Linux 5.14+: the kernel does it all
        except OSError:
            pass
    deadline = time.monotonic() + KILL_WAIT_S
    while True:
        pids = sorted({pid for folder in folders for pid in _procs(folder)})
        if not pids:
            return True
        if time.monotonic() > deadline:
            return False
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)


def _remove(folders: list[Path]) -> bool:
    """rmdir each folder of a cgroup whose processes are gone; False if some remain."""
    gone = True
    for folder in folders:
        for attempt in range(50):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                # EBUSY while the last killed processes are being reaped.
                if exc.errno != errno.EBUSY or attempt == 49:
                    log.warning("could not remove the sandbox cgroup %s: %s", folder, exc)
                    gone = False
                    break
                time.sleep(0.02)
    return gone


def sweep(found: Host) -> list[str]:
    """Remove the run cgroups of workers that are gone (killing what they still hold)."""
    names: set[str] = set()
    for base in found.folders():
        try:
            names |= {e.name for e in os.scandir(base) if e.is_dir() and _stale(e.name)}
        except OSError:
            continue
    for name in sorted(names):
        folders = [base / name for base in found.folders() if (base / name).is_dir()]
        _kill_all(folders)
        _remove(folders)
        log.warning("removed the sandbox cgroup %s left by a worker that is gone", name)
    return sorted(names)


_SEQ = itertools.count()


class RunCgroup:
    """One run's cgroup: made with its limits before the sandbox starts, removed after."""

    def __init__(self, found: Host, memory_mb: int, max_processes: int, cpus: list[int]) -> None:
        self.host = found
        self.name = f"{_run_prefix()}{next(_SEQ)}"
        # The kernel's hard limit leaves the page cache some room above the lab's limit: at
        # the hard limit a run thrashes on its own code pages for seconds before the OOM
        # killer acts, so the lab's limit is held by the watchdog, on what the run holds
        # (memory_mb), and the kernel's stops whatever outruns the watchdog's look.
        self.limit = (memory_mb + max(HEADROOM_MB, memory_mb // 8)) * MB
        self.folders = [base / self.name for base in found.folders()]
        self.dirs = {c: found.bases[c] / self.name for c in found.controllers}
        try:
            for folder in self.folders:
                folder.mkdir()
            if found.version == 1:
                self._limits_v1(max_processes, cpus)
            else:
                self._limits_v2(max_processes, cpus)
        except OSError as exc:
            self.remove()
            raise PlatformError(f"the run's cgroup could not be set up: {exc}") from exc
        self.procs_files = [str(folder / "cgroup.procs") for folder in self.folders]

    def _limits_v1(self, max_processes: int, cpus: list[int]) -> None:
        memory = self.dirs["memory"]
        _write(memory / "memory.limit_in_bytes", str(self.limit))
        if (memory / "memory.memsw.limit_in_bytes").exists():  # swap counted too, if any
            _write(memory / "memory.memsw.limit_in_bytes", str(self.limit))
        _write(memory / "memory.swappiness", "0")
        _write(self.dirs["pids"] / "pids.max", str(max_processes))
        if "cpu" in self.dirs:
            _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(len(cpus) * CFS_PERIOD_US))
        if "cpuset" in self.dirs:
            cpuset = self.dirs["cpuset"]
            _write(cpuset / "cpuset.mems", _read(cpuset.parent / "cpuset.mems").strip())
            _write(cpuset / "cpuset.cpus", ",".join(map(str, cpus)))

    def _limits_v2(self, max_processes: int, cpus: list[int]) -> None:
        folder = self.folders[0]
        _write(folder / "memory.max", str(self.limit))
        for name, value in (("memory.swap.max", "0"), ("memory.oom.group", "1")):
            if (folder / name).exists():
                _write(folder / name, value)
        _write(folder / "pids.max", str(max_processes))
        if "cpu" in self.dirs:
            _write(folder / "cpu.max", f"{len(cpus) * CFS_PERIOD_US} {CFS_PERIOD_US}")
        if "cpuset" in self.dirs:
            _write(folder / "cpuset.cpus", ",".join(map(str, cpus)))

    def join(self) -> None:
        """Put the calling process in the cgroup (run in the child before bwrap executes,
        so the sandbox and everything it starts are inside from the first instruction)."""
        pid = str(os.getpid())
        for path in self.procs_files:
            with open(path, "w") as f:
                f.write(pid)

    def _memory_file(self, v1: str, v2: str) -> Path:
        return self.dirs["memory"] / (v1 if self.host.version == 1 else v2)

    def _stat(self, key: str) -> int:
        try:
            for line in _read(self._memory_file("memory.stat", "memory.stat")).splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def memory_mb(self) -> float:
        """What the run holds now and the kernel cannot reclaim without swap: anonymous and
        shared memory (memfd, tmpfs, SysV and POSIX shm). Page cache is left out."""
        if self.host.version == 1:
            return (self._stat("total_rss") + self._stat("total_shmem")) / MB
        return (self._stat("anon") + self._stat("shmem")) / MB

    def peak_mb(self) -> float:
        """The kernel's own peak (page cache included), where it keeps one."""
        try:
            return int(_read(self._memory_file("memory.max_usage_in_bytes", "memory.peak"))) / MB
        except (OSError, ValueError):
            return 0.0

    def oom_kills(self) -> int:
        """How many processes the kernel killed for this cgroup's memory limit."""
        try:
            text = _read(self._memory_file("memory.oom_control", "memory.events"))
        except OSError:
            return 0
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill" and value.strip().isdigit():
                return int(value)
        return 0

    def was_used(self) -> bool:
        """True once a process of the run was charged to it (the probe's check)."""
        if self.host.version == 1:
            return self.peak_mb() > 0
        try:
            for line in _read(self.folders[0] / "cpu.stat").splitlines():
                if line.startswith("usage_usec "):
                    return int(line.split()[1]) > 0
        except (OSError, ValueError):
            pass
        return self.peak_mb() > 0

    def remove(self) -> None:
        """Kill whatever is left in the cgroup and remove it (a leftover: the next start's
        sweep removes it)."""
        folders = [f for f in self.folders if f.is_dir()]
        if _kill_all(folders):
            _remove(folders)
        else:
            log.warning("processes of the sandbox cgroup %s would not die", self.name)


def choose_cpus(count: int, index: int) -> list[int]:
    """`count` of this process's CPUs for a run, spread over the runs by their index."""
    allowed = sorted(os.sched_getaffinity(0))
    count = max(1, min(count, len(allowed)))
    start = (index * count) % len(allowed)
    return sorted(allowed[(start + i) % len(allowed)] for i in range(count))
