"""The process sandbox's seccomp filter: Docker's default profile, made stricter.

Docker's default (moby/profiles, seccomp/default.json) is an allow-list: every system call
not named fails with EPERM. An entry here never holds a capability (setpriv drops them all),
so of Docker's rules only those that apply to a process without capabilities are ported,
with their argument conditions: `clone` only without namespace flags, `clone3` answered
ENOSYS (its flags sit behind a pointer; glibc then falls back to `clone`), `personality`
only with the values Docker allows, `socket` only for some address families. On top of
that it is stricter than Docker: no `ptrace`, `process_vm_readv`/`process_vm_writev`
(Docker allows them on kernels since 4.8), no `modify_ldt`, no `memfd_secret` (memory no
watchdog could see), sockets only for Unix, IPv4, IPv6 and netlink, and native x86-64
system calls only (a 32-bit or x32 call kills the process). The kernel keyring (`keyctl`,
`add_key`, `request_key`), `bpf`, `perf_event_open`, `userfaultfd`, `io_uring_*`, every
mount call and every namespace call (`unshare`, `setns`) are absent from the allow-list,
as in Docker's.

bubblewrap installs the compiled filter (`--seccomp FD`) last, just before it executes the
sandbox's command: its own set-up (mounts, pivot_root) happens before. That command is
setpriv when root starts the sandbox, so what setpriv needs (setresuid, setgroups, capset,
prctl) is allowed, as it is in Docker's profile.

The filter is compiled with libseccomp (Debian's libseccomp2, which apt itself depends on)
through ctypes: no Python binding is needed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import threading

from grader.errors import PlatformError

NAME = "docker-default"

# Docker's allow-list (moby/profiles seccomp/default.json, the rules without conditions),
# less what is listed in STRICTER. Names libseccomp does not know are skipped: they stay
# forbidden (EPERM), as the default action says.
DOCKER_ALLOW = """
accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
clock_adjtime clock_getres clock_gettime clock_nanosleep close close_range connect
copy_file_range creat dup dup2 dup3 epoll_create epoll_create1 epoll_ctl epoll_ctl_old
epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd eventfd2 execve execveat exit
exit_group faccessat faccessat2 fadvise64 fallocate fanotify_mark fchdir fchmod fchmodat
fchmodat2 fchown fchownat fcntl fdatasync fgetxattr flistxattr flock fork fremovexattr
fsetxattr fstat fstatfs fsync ftruncate futex futex_requeue futex_wait futex_waitv
futex_wake futimesat getcpu getcwd getdents getdents64 getegid geteuid getgid getgroups
getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
getresuid getrlimit get_robust_list getrusage getsid getsockname getsockopt
get_thread_area gettid gettimeofday getuid getxattr getxattrat inotify_add_watch
inotify_init inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents
io_pgetevents ioprio_get ioprio_set io_setup io_submit kill landlock_add_rule
landlock_create_ruleset landlock_restrict_self lchown lgetxattr link linkat listen
listmount listxattr listxattrat llistxattr lremovexattr lseek lsetxattr lstat madvise
map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
mlock mlock2 mlockall mmap mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
mq_timedsend mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall
munmap name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open
pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll prctl pread64
preadv preadv2 prlimit64 process_mrelease pselect6 pwrite64 pwritev pwritev2 read
readahead readlink readlinkat readv recvfrom recvmmsg recvmsg remap_file_pages removexattr
removexattrat rename renameat renameat2 restart_syscall rmdir rseq rt_sigaction
rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait
rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam sched_get_priority_max
sched_get_priority_min sched_getscheduler sched_rr_get_interval sched_setaffinity
sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget
semop semtimedop sendfile sendmmsg sendmsg sendto setfsgid setfsuid setgid setgroups
setitimer setpgid setpriority setregid setresgid setresuid setreuid setrlimit
set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setxattr
setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 socketpair
splice stat statfs statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo
tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_settime
timerfd_create timerfd_gettime timerfd_settime times tkill truncate umask uname unlink
unlinkat uretprobe utime utimensat utimes vfork vmsplice wait4 waitid write writev
arch_prctl
""".split()
# Docker allows these to a process without capabilities; this sandbox does not.
STRICTER = frozenset({"memfd_secret"})
# What Docker also allows that is left out here altogether: ptrace, process_vm_readv,
# process_vm_writev (its rule for kernels >= 4.8) and modify_ldt (its x86 rule).

# Namespace flags of clone(2): Docker allows clone only with none of them (arg 0).
CLONE_NS_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
    | 0x02000000  # CLONE_NEWCGROUP
)
# personality(2): the values Docker allows (PER_LINUX, PER_LINUX32, UNAME26 variants, query).
PERSONALITIES = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
# socket(2): Unix, IPv4, IPv6 and netlink (glibc's if_nameindex and getaddrinfo use it).
SOCKET_FAMILIES = (1, 2, 10, 16)

# libseccomp's constants (seccomp.h).
_ACT_ALLOW = 0x7FFF0000
_ACT_KILL_PROCESS = 0x80000000
_CMP_EQ = 4
_CMP_MASKED_EQ = 7
_ATTR_ACT_BADARCH = 2
_ATTR_CTL_OPTIMIZE = 8


def _act_errno(code: int) -> int:
    return 0x00050000 | (code & 0xFFFF)


class _ArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


_LOCK = threading.Lock()
_CACHE: dict[bool, bytes] = {}


def _library() -> ctypes.CDLL:
    try:
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError as exc:
        raise PlatformError(
            "libseccomp is missing (apt-get install libseccomp2): no seccomp filter"
        ) from exc
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_release.argtypes = [ctypes.c_void_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_ArgCmp),
    ]
    lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
    return lib


def _rules(allow_affinity: bool) -> list[tuple[str, int, list[tuple[int, int, int, int]]]]:
    """(system call, action, conditions (arg, op, a, b), each rule alone) of the filter."""
    rules: list[tuple[str, int, list[tuple[int, int, int, int]]]] = []
    for name in DOCKER_ALLOW:
        if name in STRICTER or (name == "sched_setaffinity" and not allow_affinity):
            continue
        rules.append((name, _ACT_ALLOW, []))
    rules.append(("clone", _ACT_ALLOW, [(0, _CMP_MASKED_EQ, CLONE_NS_FLAGS, 0)]))
    rules.append(("clone3", _act_errno(errno.ENOSYS), []))
    rules += [("personality", _ACT_ALLOW, [(0, _CMP_EQ, p, 0)]) for p in PERSONALITIES]
    rules += [("socket", _ACT_ALLOW, [(0, _CMP_EQ, f, 0)]) for f in SOCKET_FAMILIES]
    return rules


def _compile(allow_affinity: bool) -> bytes:
    if platform.machine() != "x86_64":
        # The allow-list and clone's argument order are x86-64's; elsewhere, refuse.
        raise PlatformError(f"the seccomp filter is written for x86-64, not {platform.machine()}")
    lib = _library()
    ctx = lib.seccomp_init(_act_errno(errno.EPERM))
    if not ctx:
        raise PlatformError("libseccomp could not start a filter")
    try:
        lib.seccomp_attr_set(ctx, _ATTR_ACT_BADARCH, _ACT_KILL_PROCESS)
        lib.seccomp_attr_set(ctx, _ATTR_CTL_OPTIMIZE, 2)  # a binary tree: fast on hot calls
        for name, action, conditions in _rules(allow_affinity):
            number = lib.seccomp_syscall_resolve_name(name.encode())
            if number < 0:  # unknown to this libseccomp (or not an x86-64 call): forbidden
                continue
            args = (_ArgCmp * max(1, len(conditions)))(*[_ArgCmp(*c) for c in conditions])
            rc = lib.seccomp_rule_add_array(ctx, action, number, len(conditions), args)
            if rc != 0:
                raise PlatformError(f"libseccomp refused the rule for {name}: {os.strerror(-rc)}")
        fd = os.memfd_create("grader-seccomp-export", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc != 0:
                raise PlatformError(f"libseccomp could not export the filter: {os.strerror(-rc)}")
            os.lseek(fd, 0, os.SEEK_SET)
            chunks = []
            while chunk := os.read(fd, 65536):
                chunks.append(chunk)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    program = b"".join(chunks)
    if not program or len(program) % 8:
        raise PlatformError("libseccomp exported no usable filter")
    return program


def program(allow_affinity: bool = True) -> bytes:
    """The compiled filter (classic BPF, as bubblewrap's --seccomp reads it), built once.

    `allow_affinity=False` also forbids sched_setaffinity: where no cgroup pins the run's
    CPUs, that is what keeps an entry on the CPUs it was given."""
    with _LOCK:
        if allow_affinity not in _CACHE:
            _CACHE[allow_affinity] = _compile(allow_affinity)
        return _CACHE[allow_affinity]


def program_fd(allow_affinity: bool = True) -> int:
    """A readable file descriptor (a memfd at offset 0) holding the filter, for bwrap."""
    data = program(allow_affinity)
    fd = os.memfd_create("grader-seccomp", os.MFD_CLOEXEC)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
