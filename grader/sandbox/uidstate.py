"""Clearing what a slot uid leaves in the kernel and the host when its slot is released.

The process sandbox runs each concurrent run as a slot's own uid, and the next run on that
slot gets the same uid. Namespaces end with the run (its processes, its SysV IPC and POSIX
message queues, its /tmp and /dev/shm), but some kernel state is per uid and outlives them:
the uid's keyrings above all (its user, user-session and persistent keyrings), which one
entry could fill and the next read. The seccomp filter forbids the keyring calls; this clears
them anyway, with whatever else of the uid may be left on the host: its processes, SysV IPC
objects in the worker's IPC namespace, and files it owns at the top of the host's shared,
world-writable folders (/tmp, /var/tmp, /dev/shm, /dev/mqueue).

Only for slot uids (the sandbox started by root): a student's own uid is never cleared.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from grader import outputs

log = logging.getLogger(__name__)

SHARED_DIRS = ("/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue")  # noqa: S108 - the host's, to clean
MAX_ENTRIES = 100_000  # entries looked at per shared folder
KILL_ROUNDS = 50

SYS_KEYCTL = 250  # x86-64
KEYCTL_GET_KEYRING_ID = 0
KEYCTL_CLEAR = 7
KEYCTL_INVALIDATE = 21
KEYCTL_GET_PERSISTENT = 22
KEY_SPEC_PROCESS_KEYRING = -2
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5
USER_KEYRINGS = (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING)
IPC_RMID = 0


def processes_of(uid: int) -> list[int]:
    """Live processes with `uid` as their real, effective, saved or file-system uid."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status", "rb") as f:
                text = f.read()
            state = text[text.index(b"\nState:") + 7 :].split(None, 1)[0]
            uids = text[text.index(b"\nUid:") + 5 :].split(b"\n", 1)[0].split()
            if state != b"Z" and uid in {int(u) for u in uids}:
                found.append(int(name))
        except (OSError, IndexError, ValueError):
            continue
    return found


def _kill_processes(uid: int) -> int:
    killed: set[int] = set()
    for _ in range(KILL_ROUNDS):  # a process may fork while the last round kills it
        pids = processes_of(uid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
            except (ProcessLookupError, PermissionError):
                pass
        time.sleep(0.01)
    return len(killed)


def has_keys(uid: int) -> bool:
    """Whether the kernel holds keys (keyrings included) of `uid` (/proc/key-users)."""
    try:
        lines = Path("/proc/key-users").read_text().splitlines()
    except OSError:
        return True  # cannot tell: clear
    for line in lines:
        owner, _, rest = line.partition(":")
        if owner.strip() == str(uid):
            return int(rest.split()[1].split("/")[0]) > 0
    return False


def _as_uid_clear_keyrings(uid: int) -> Callable[[], None]:
    def clear() -> None:
        # In the child, before it executes /bin/true: become the uid (keyrings are reached
        # only as their owner), then empty and invalidate its keyrings, so that the kernel
        # drops them and the keys they held. Errors are ignored: a keyring the kernel does
        # not have (no persistent keyrings) has nothing to clear.
        os.setgroups([])
        os.setresgid(uid, uid, uid)
        os.setresuid(uid, uid, uid)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long

        def keyctl(*args: int) -> int:
            return int(libc.syscall(ctypes.c_long(SYS_KEYCTL), *map(ctypes.c_long, args)))

        # By serial number, all found first: naming a user keyring that is gone makes a new one.
        rings = [keyctl(KEYCTL_GET_KEYRING_ID, spec, 1) for spec in USER_KEYRINGS]
        rings.append(keyctl(KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_PROCESS_KEYRING))
        for ring in rings:
            if ring > 0:
                keyctl(KEYCTL_CLEAR, ring)
        for ring in rings:
            if ring > 0:
                keyctl(KEYCTL_INVALIDATE, ring)

    return clear


def _clear_keyrings(uid: int) -> bool:
    if not has_keys(uid):
        return False
    subprocess.run(
        ["/bin/true"],
        preexec_fn=_as_uid_clear_keyrings(uid),  # noqa: PLW1509 - setresuid before exec
        close_fds=True,
        check=False,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=30,
    )
    return True


def _remove_ipc(uid: int) -> int:
    """Remove the SysV shared memory, semaphores and message queues `uid` owns or made."""
    libc = ctypes.CDLL(None, use_errno=True)
    removers: dict[str, tuple[Callable[[int], int], tuple[int, int]]] = {
        # file: (remove by id, (column of the owner's uid, column of the creator's uid))
        "shm": (lambda i: int(libc.shmctl(i, IPC_RMID, None)), (7, 9)),
        "sem": (lambda i: int(libc.semctl(i, 0, IPC_RMID)), (4, 6)),
        "msg": (lambda i: int(libc.msgctl(i, IPC_RMID, None)), (7, 9)),
    }
    removed = 0
    for kind, (remove, (owner, creator)) in removers.items():
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            try:
                if uid in (int(cols[owner]), int(cols[creator])):
                    removed += remove(int(cols[1])) == 0
            except (IndexError, ValueError):
                continue
    return removed


def _remove_files(uid: int) -> int:
    removed = 0
    for folder in {*SHARED_DIRS, tempfile.gettempdir()}:
        try:
            with os.scandir(folder) as it:
                entries = [e for _, e in zip(range(MAX_ENTRIES), it, strict=False)]
        except OSError:
            continue
        for entry in entries:
            try:
                st = entry.stat(follow_symlinks=False)
                if st.st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    outputs.remove_tree(Path(entry.path))
                else:
                    os.unlink(entry.path)
                removed += 1
            except OSError:
                continue
    return removed


def clear(uid: int) -> None:
    """Clear what `uid` left: processes first (they could recreate the rest), then its
    keyrings, SysV IPC objects and files in the host's shared folders."""
    killed = _kill_processes(uid)
    keys = _clear_keyrings(uid)
    ipc = _remove_ipc(uid)
    files = _remove_files(uid)
    if killed or keys or ipc or files:
        log.warning(
            "slot uid %d left %d processes, keys (%s), %d SysV IPC objects and %d files: cleared",
            uid,
            killed,
            "yes" if keys else "none",
            ipc,
            files,
        )
