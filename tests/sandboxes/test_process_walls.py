"""The process backend has Docker's walls (issue 25, items 3 and 7): each red-team attack,
run as a real entry through the backend.

Every limit is checked both ways it can hold: with a cgroup per run (root on a host with
cgroups: this machine and CI) and with the watchdog the backend falls back to where no cgroup
can be had. Slot uids are chosen so that nothing else grading on this machine shares them.
"""

import ctypes
import os
import re
import secrets
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader.errors import PlatformError
from grader.sandbox import Job, SandboxLimits, cgroups, get_backend, seccomp, uidstate
from grader.sandbox import process as process_backend

MB = 2**20
SYSCALL = (
    "import ctypes, errno, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "libc.syscall.restype = ctypes.c_long\n"
    "def call(nr, *args):\n"
    "    conv = [a if isinstance(a, bytes) else ctypes.c_long(a) for a in args]\n"
    "    r = libc.syscall(ctypes.c_long(nr), *conv)\n"
    "    return errno.errorcode.get(ctypes.get_errno(), '?') if r < 0 else 'OK'\n"
)


def job(tmp_path, code, wall=30.0, memory=500, **limits):
    return Job(
        command=("python", "-c", code),
        mounts={},
        output_dir=tmp_path / "out",
        limits=SandboxLimits(wall_time_s=wall, memory_mb=memory, **limits),
    )


@pytest.fixture(params=["cgroup", "watchdog"])
def backend(request, monkeypatch):
    """The backend with a cgroup per run, and as it is where no cgroup can be had."""
    monkeypatch.setattr(process_backend, "_ISOLATION", None)
    if request.param == "watchdog":
        monkeypatch.setattr(process_backend.cgroups, "host", lambda: None)
    elif cgroups.host() is None:
        pytest.skip("no cgroup can be made here (not root, no delegation)")
    return get_backend("process")


@pytest.fixture
def private_slot(monkeypatch, tmp_path):
    """One slot whose uid no other grading on this machine uses: runs follow each other on
    the same uid whatever else runs here."""
    if os.geteuid() != 0:
        pytest.skip("slot uids are only used when root starts the sandbox")
    uid = 62000 + secrets.randbelow(3000)
    monkeypatch.setattr(process_backend, "UID_BASE", uid)
    monkeypatch.setattr(process_backend, "SLOTS", 1)
    monkeypatch.setattr(process_backend, "SLOT_DIR", tmp_path / "slots")
    return uid


def value(log, key):
    found = re.findall(rf"^{key} (\S+)", log, re.M)
    assert found, log
    return found[-1]


# Shared memory counts: a memfd is memory no process's resident size shows.


def test_memory_held_in_a_memfd_counts_and_ends_as_oom(backend, tmp_path):
    code = (
        "import os, time\n"
        "chunk = b'x' * (16 * 2**20)\n"
        "held = []\n"
        "for i in range(64):  # 1 GiB in 16 MB memfds (each file is capped at output_mb)\n"
        "    held.append(os.memfd_create('hoard'))\n"
        "    os.write(held[-1], chunk)\n"
        "    print('HELD', (i + 1) * 16, flush=True)\n"
        "    time.sleep(0.05)\n"
        "time.sleep(30)\n"
    )
    result = backend.run(job(tmp_path, code, memory=256))
    assert result.oom and not result.timed_out, result
    assert int(value(result.log, "HELD")) < 512


# out/ is a size-capped tmpfs.


def test_writing_past_output_mb_fails_inside_with_enospc(backend, tmp_path):
    code = (
        "import errno, os\n"
        "out = os.environ['SANDBOX_OUT']\n"
        "written = 0\n"
        "try:\n"
        "    for i in range(64):\n"
        "        with open(f'{out}/part{i}', 'wb') as f:\n"
        "            for _ in range(4):\n"
        "                f.write(b'x' * 2**20)\n"
        "                f.flush()\n"
        "                written += 1\n"
        "except OSError as e:\n"
        "    print('STOPPED', errno.errorcode[e.errno])\n"
        "st = os.statvfs(out)\n"
        "print('CAP', st.f_blocks * st.f_frsize // 2**20)\n"
        "print('WROTE', written)\n"
    )
    result = backend.run(job(tmp_path, code, output_mb=8))
    # The host never took more than the cap: the writes themselves failed, inside.
    assert value(result.log, "STOPPED") == "ENOSPC", result.log
    assert int(value(result.log, "WROTE")) <= 8 and value(result.log, "CAP") == "8"
    # What fit is collected as before, within grader.outputs' bounds.
    assert result.output_error is None
    assert sum(p.stat().st_size for p in (tmp_path / "out").iterdir()) <= 8 * MB


# The CPU limit holds whatever affinity the entry asks for.


def test_sched_setaffinity_cannot_widen_a_one_cpu_lab(backend, tmp_path):
    code = (
        "import os, time\n"
        "try:\n"
        "    os.sched_setaffinity(0, range(os.cpu_count()))\n"
        "except OSError as e:\n"
        "    print('REFUSED', e.errno)\n"
        "print('CPUS', len(os.sched_getaffinity(0)))\n"
        "start = time.monotonic()\n"
        "kids = []\n"
        "for _ in range(4):\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        end = time.monotonic() + 2\n"
        "        while time.monotonic() < end:\n"
        "            pass\n"
        "        os._exit(0)\n"
        "    kids.append(pid)\n"
        "for pid in kids:\n"
        "    os.waitpid(pid, 0)\n"
        "wall = time.monotonic() - start\n"
        "t = os.times()\n"
        "print('RATIO', round((t.children_user + t.children_system) / wall, 2))\n"
    )
    result = backend.run(job(tmp_path, code, cpus=1))
    assert result.exit_code == 0, result.log
    assert value(result.log, "CPUS") == "1"
    # CPU time used over wall time: at most one CPU's worth (and a little accounting slack).
    assert float(value(result.log, "RATIO")) <= 1.15, result.log


# The seccomp filter.

BLOCKED = {
    # name: (syscall number, arguments): each would do something (or fail otherwise) without
    # the filter; with it, each fails with EPERM before the kernel looks at its arguments.
    "ptrace": (101, (0, 0, 0, 0)),  # PTRACE_TRACEME
    "process_vm_readv": (310, (1, 0, 0, 0, 0, 0)),
    "bpf": (321, (999, 0, 0)),
    "perf_event_open": (298, (0, 0, -1, -1, 0)),
    "userfaultfd": (323, (0,)),
    "keyctl": (250, (0, -4, 0)),  # the user keyring's id
    "add_key": (248, (b"user", b"relay", b"secret", 6, -4)),
    "request_key": (249, (b"user", b"relay", 0, 0)),
    "unshare(user)": (272, (0x10000000,)),
    "unshare(mount)": (272, (0x00020000,)),
    "setns": (308, (-1, 0)),
    "mount": (165, (b"none", b"/tmp", b"tmpfs", 0, 0)),
    "umount2": (166, (b"/tmp", 0)),
    "pivot_root": (155, (b"/tmp", b"/tmp")),
    "chroot": (161, (b"/tmp",)),
    # Namespace flags on clone (with CLONE_FS, which the kernel would refuse as EINVAL).
    "clone(newuser)": (56, (0x10000000 | 0x00020000 | 0x200, 0, 0, 0, 0)),
    "personality(read-implies-exec)": (135, (0x0400000,)),
    "socket(AF_ALG)": (41, (38, 5, 0)),
    "socket(AF_VSOCK)": (41, (40, 1, 0)),
    "io_uring_setup": (425, (1, 0)),
    "memfd_secret": (447, (0,)),
    "kexec_load": (246, (0, 0, 0, 0)),
    "init_module": (175, (0, 0, b"")),
}


def test_seccomp_filter_refuses_each_dangerous_call(tmp_path):
    backend = get_backend("process")
    calls = "".join(
        f"print('CALL', {name!r}, call({nr}, *{args!r}))\n" for name, (nr, args) in BLOCKED.items()
    )
    code = SYSCALL + calls + "print('CALL clone3', call(435, 0, 0))\n"
    result = backend.run(job(tmp_path, code))
    assert result.exit_code == 0, result.log
    seen = dict(re.findall(r"^CALL (.+) (\S+)$", result.log, re.M))
    assert seen == {**{name: "EPERM" for name in BLOCKED}, "clone3": "ENOSYS"}, result.log
    # A 32-bit system call (int 0x80: i386's getpid) is no way around the filter: it kills.
    i386 = (
        "import ctypes, mmap\n"
        "buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n"
        "buf.write(bytes([0xB8, 20, 0, 0, 0, 0xCD, 0x80, 0xC3]))  # mov eax,20; int 0x80; ret\n"
        "f = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))\n"
        "print('I386', f(), flush=True)\n"
    )
    result = backend.run(job(tmp_path, i386))
    assert result.exit_code == -31 and "I386" not in result.log, result  # SIGSYS


def test_seccomp_filter_allows_what_entries_do(backend, tmp_path):
    # numpy's threads, subprocesses, multiprocessing, loopback sockets, memfds: what
    # TensorFlow, torch and numpy entries do (real frameworks: tests/grader/test_frameworks).
    code = (
        "import multiprocessing, numpy, os, socket, subprocess, threading\n"
        "a = numpy.ones((300, 300)); assert (a @ a)[0, 0] == 300\n"
        "t = threading.Thread(target=print, args=('THREAD',)); t.start(); t.join()\n"
        "assert subprocess.run(['true']).returncode == 0\n"
        "with multiprocessing.get_context('fork').Pool(2) as pool:\n"
        "    assert pool.map(abs, [-1, -2]) == [1, 2]\n"
        "server = socket.create_server(('127.0.0.1', 0))\n"
        "client = socket.create_connection(server.getsockname())\n"
        "left, right = socket.socketpair(); left.send(b'x'); assert right.recv(1) == b'x'\n"
        "fd = os.memfd_create('ok'); os.write(fd, b'x' * 4096)\n"
        "assert len(os.urandom(8)) == 8 and os.sched_getaffinity(0)\n"
        "print('ALLOWED')\n"
    )
    result = backend.run(job(tmp_path, code, cpus=2))
    assert result.exit_code == 0 and "ALLOWED" in result.log, result.log


def test_a_filter_that_lets_calls_through_is_refused(monkeypatch):
    # A filter that allows everything (one instruction: return ALLOW) installs fine; the probe
    # must notice from inside that the calls it forbids went through, and refuse to grade.
    monkeypatch.setattr(process_backend, "_ISOLATION", None)
    allow_all = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)
    monkeypatch.setattr(seccomp, "program", lambda allow_affinity=True: allow_all)
    with pytest.raises(PlatformError, match="seccomp filter was not in force"):
        get_backend("process")


# Per-uid kernel state: keyrings.


def test_keyring_calls_fail_and_nothing_relays_between_runs(private_slot, tmp_path):
    backend = get_backend("process")
    store = SYSCALL + "print('ADD', call(248, b'user', b'relay', b'secret', 6, -4))\n"
    first = backend.run(job(tmp_path / "a", store))
    assert value(first.log, "ADD") == "EPERM", first.log
    look = SYSCALL + "print('FOUND', call(250, 10, -4, b'user', b'relay', 0))\n"
    second = backend.run(job(tmp_path / "b", look))  # the same slot, the same uid
    assert value(second.log, "FOUND") in {"EPERM", "ENOKEY"}, second.log
    assert f"uid {private_slot}," in backend.isolation


def _plant(uid: int, tmp_file: Path):
    """As `uid`, on the host (no sandbox): a key in its user keyring, a SysV shared memory
    segment, a file in /tmp; and a process of it left running."""
    libc = ctypes.CDLL(None, use_errno=True)

    def as_uid():
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)

    def plant():
        as_uid()
        libc.syscall(
            ctypes.c_long(248), b"user", b"planted", b"secret", ctypes.c_long(6), ctypes.c_long(-4)
        )
        libc.shmget(0, 4096, 0o1000 | 0o600)  # IPC_PRIVATE, IPC_CREAT
        tmp_file.write_bytes(b"left behind")

    subprocess.run(["true"], preexec_fn=plant, check=True)
    return subprocess.Popen(["sleep", "600"], preexec_fn=as_uid, start_new_session=True)


def _sysv_shm_of(uid: int) -> list[str]:
    lines = Path("/proc/sysvipc/shm").read_text().splitlines()[1:]
    return [ln for ln in lines if int(ln.split()[7]) == uid]


def test_releasing_a_slot_clears_what_its_uid_left(private_slot, tmp_path):
    uid = private_slot
    tmp_file = Path(f"/tmp/grader-left-{secrets.token_hex(6)}")  # noqa: S108 - the host's /tmp
    leftover = _plant(uid, tmp_file)
    try:
        assert uidstate.has_keys(uid) and _sysv_shm_of(uid) and tmp_file.exists()
        assert leftover.pid in uidstate.processes_of(uid)
        result = get_backend("process").run(job(tmp_path, "print('RAN')"))
        assert "RAN" in result.log, result.log
        assert leftover.wait(timeout=5) == -9
        assert not tmp_file.exists() and _sysv_shm_of(uid) == []
        deadline = time.monotonic() + 5  # the kernel drops invalidated keyrings lazily
        while uidstate.has_keys(uid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not uidstate.has_keys(uid)
    finally:
        leftover.kill()
        tmp_file.unlink(missing_ok=True)


def test_a_slot_its_last_worker_died_holding_is_cleared_when_claimed(private_slot, tmp_path):
    # A worker killed mid-run leaves the slot's lock file marked dirty: the next claim clears.
    uid = private_slot
    backend = get_backend("process")
    tmp_file = Path(f"/tmp/grader-left-{secrets.token_hex(6)}")  # noqa: S108 - the host's /tmp
    leftover = _plant(uid, tmp_file)
    try:
        process_backend.SLOT_DIR.mkdir(mode=0o700, exist_ok=True)
        (process_backend.SLOT_DIR / "0.lock").write_bytes(process_backend.DIRTY)
        slot = process_backend._claim_slot(backend._iso)
        try:
            assert slot.uid == uid and not tmp_file.exists()
            assert leftover.wait(timeout=5) == -9
        finally:
            slot.release()
        assert (process_backend.SLOT_DIR / "0.lock").read_bytes() == b""
    finally:
        leftover.kill()
        tmp_file.unlink(missing_ok=True)


# cgroups: always removed, and those of a dead worker removed at the next start.


def _mine(found):
    return [p for base in found.folders() for p in base.glob(cgroups._run_prefix() + "*")]


def test_each_run_cgroup_is_removed_whatever_the_run_did(tmp_path):
    found = cgroups.host()
    if found is None:
        pytest.skip("no cgroup can be made here (not root, no delegation)")
    backend = get_backend("process")
    hog = "b = bytearray(400 * 2**20)\nimport time; time.sleep(30)\n"
    assert backend.run(job(tmp_path / "a", hog, memory=128)).oom
    assert backend.run(job(tmp_path / "b", "import time; time.sleep(30)", wall=1)).timed_out
    assert _mine(found) == []


def test_cgroups_left_by_a_dead_worker_are_removed_at_the_next_start():
    found = cgroups.host()
    if found is None:
        pytest.skip("no cgroup can be made here (not root, no delegation)")
    worker = subprocess.Popen(["sleep", "30"])
    name = f"run-{cgroups._identity(worker.pid)}-0"
    worker.kill()
    worker.wait()  # the worker is gone; its run's cgroup, and a process in it, are not
    folders = [base / name for base in found.folders()]
    for folder in folders:
        folder.mkdir()
    leftover = subprocess.Popen(["sleep", "600"])
    try:
        (found.bases["memory"] / name / "cgroup.procs").write_text(str(leftover.pid))
        assert cgroups.host() is not None  # what a starting worker's probe calls
        assert not any(folder.exists() for folder in folders)
        assert leftover.wait(timeout=5) == -9
    finally:
        leftover.kill()
        for folder in folders:
            if folder.exists():
                folder.rmdir()


# /health/ and the receipt name the walls.


def test_the_receipt_names_every_wall_that_held(backend, tmp_path):
    result = backend.run(job(tmp_path, "import os\nprint('UID', os.getuid())", output_mb=16))
    words = backend.isolation
    assert "seccomp (docker-default)" in words and "out/ tmpfs 16 MB" in words
    assert f"uid {value(result.log, 'UID')}," in words
    iso = backend._iso
    if iso.cgroup is not None:
        assert f"cgroup v{iso.cgroup.version} memory+pids+cpu" in words
    else:
        assert "no cgroup: watchdog on RSS+tmpfs+memfd, affinity fixed" in words
    assert backend.describe()["limits"] in words


def test_the_kernel_holds_a_hard_limit_and_its_kills_are_read_back():
    # What outruns the watchdog's looks: the kernel kills at the cgroup's hard limit (the
    # lab's limit and some page-cache room), and the run reads the kill back as an OOM.
    found = cgroups.host()
    if found is None:
        pytest.skip("no cgroup can be made here (not root, no delegation)")
    group = cgroups.RunCgroup(found, 64, 64, cgroups.choose_cpus(1, 0))
    try:
        hog = subprocess.run(
            [sys.executable, "-c", "b = bytearray(2**30)"], preexec_fn=group.join, check=False
        )
        assert hog.returncode == -9 and group.oom_kills() == 1
    finally:
        group.remove()
    assert not any(folder.exists() for folder in group.folders)
