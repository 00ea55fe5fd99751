"""The process backend on its own: limits, isolation, outputs, logs, sessions.

The hostile cases of issue 15 (items 7-10) each have a test here; run as root (like CI), the
backend gives every run a slot uid, so these run there without skipping.
"""

import os
import secrets
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from grader import protocol as P
from grader.errors import PlatformError
from grader.sandbox import Job, SandboxLimits, get_backend
from grader.sandbox import process as process_backend
from grader.sandbox.base import SessionTimeout


@pytest.fixture(scope="module")
def backend():
    return get_backend("process")


def job(tmp_path, code, wall=20.0, memory=500, **limits):
    return Job(
        command=("python", "-c", code),
        mounts={},
        output_dir=tmp_path / "out",
        limits=SandboxLimits(wall_time_s=wall, memory_mb=memory, **limits),
    )


def test_describes_the_isolation_it_uses(backend, tmp_path):
    assert backend.isolation.startswith("process (bubblewrap: ") and backend.image_digest is None
    assert backend.describe()["sandbox"] == "bubblewrap"
    result = backend.run(job(tmp_path, "import os\nprint('UID', os.getuid())"))
    # After a run, the receipt's line names the uid that run actually had: whichever slot
    # was free (other gradings on this machine may hold the first ones).
    uid = uid_of(result.log)
    assert f"uid {uid}," in backend.isolation
    if os.geteuid() == 0:
        base, slots = process_backend.UID_BASE, process_backend.SLOTS
        assert base <= uid < base + slots


def test_clean_env_mounts_and_outputs(backend, tmp_path, monkeypatch):
    monkeypatch.setenv("WORKER_SECRET", "x")
    src = tmp_path / "data"
    src.mkdir()
    (src / "a.txt").write_text("hello")
    code = (
        "import os, pathlib\n"
        "assert 'WORKER_SECRET' not in os.environ, 'leaked'\n"
        "print(pathlib.Path(os.environ['SANDBOX_DATA'], 'a.txt').read_text())\n"
        "try:\n    open(os.path.join(os.environ['SANDBOX_DATA'], 'b'), 'w')\n"
        "except OSError:\n    print('read-only')\n"
        "out = pathlib.Path(os.environ['SANDBOX_OUT'])\n"
        "(out / 'r.txt').write_text('result')\n"
        "os.symlink('/etc/passwd', out / 'link')\n"
    )
    result = backend.run(
        Job(("python", "-c", code), {"data": src}, tmp_path / "out", SandboxLimits(20, 500))
    )
    assert result.exit_code == 0, result.log
    assert "hello" in result.log and "read-only" in result.log
    assert (tmp_path / "out/r.txt").read_text() == "result"
    assert not (tmp_path / "out/link").exists()


def test_env_allow_list_is_enforced():
    with pytest.raises(ValueError, match="allow-list"):
        Job(("python",), {}, "/tmp", SandboxLimits(1, 1), env={"LD_PRELOAD": "x"})


def host_processes_with(token: str) -> list[str]:
    """Command lines of host processes that carry `token` (zombies excluded)."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ")
            state = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if token.encode() in cmdline and state != "Z":
            found.append(cmdline.decode(errors="replace"))
    return found


def daemon_code(token: str, body: str = "time.sleep(60)") -> str:
    """An entry that leaves a double-forked, setsid daemon behind (its argv carries token)."""
    leave = "import os, time\nif os.fork(): os._exit(0)\nos.setsid()\nif os.fork(): os._exit(0)\n"
    leave += body
    return (
        "import subprocess, sys\n"
        f"subprocess.run([sys.executable, '-c', {leave!r}, {token!r}])\n"
        "print('LEFT A DAEMON', flush=True)\n"
    )


def test_wall_clock_kills_the_whole_group(backend, tmp_path):
    token = f"grader-leftover-{secrets.token_hex(6)}"
    code = daemon_code(token) + "import time\ntime.sleep(60)\n"
    t = time.monotonic()
    result = backend.run(job(tmp_path, code, wall=3))
    assert result.timed_out and not result.oom and "LEFT A DAEMON" in result.log
    assert time.monotonic() - t < 8
    assert host_processes_with(token) == []


def test_double_fork_and_setsid_leave_nothing_behind(backend, tmp_path):
    # Issue 15, item 8: the entry ends normally; its daemon must not outlive the run.
    token = f"grader-leftover-{secrets.token_hex(6)}"
    result = backend.run(job(tmp_path, daemon_code(token)))
    assert result.exit_code == 0 and "LEFT A DAEMON" in result.log, result.log
    time.sleep(0.3)
    assert host_processes_with(token) == []


def test_memory_limit_stops_a_big_allocation(backend, tmp_path):
    result = backend.run(
        job(tmp_path, "b = bytearray(600 * 2**20)\nimport time; time.sleep(10)", memory=200)
    )
    assert result.oom and result.peak_memory_mb >= 200


def test_no_network(backend, tmp_path):
    code = "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n"
    result = backend.run(job(tmp_path, code))
    assert result.exit_code != 0 and "unreachable" in result.log.lower()


def test_denied_paths_are_hidden(backend, tmp_path):
    secret = tmp_path / "hidden"
    secret.mkdir()
    (secret / "labels.npz").write_text("y")
    os.chmod(tmp_path, 0o755)  # even where permissions would let it in
    code = f"import os\nprint('SEEN', os.listdir({str(secret)!r}))\n"
    result = backend.run(
        Job(
            ("python", "-c", code),
            {},
            tmp_path / "out",
            SandboxLimits(20, 500),
            deny_paths=(secret,),
        )
    )
    assert "labels.npz" not in result.log


def test_log_is_capped_and_sanitised(backend, tmp_path):
    code = "import sys\nsys.stdout.write('\\x1b[31mred\\x07\\n' + 'x' * 200000)\n"
    result = backend.run(job(tmp_path, code, log_bytes=4096))
    assert len(result.log.encode()) < 4096 + 200
    assert "\x1b" not in result.log and "\x07" not in result.log and "red" in result.log


def test_session_round_trip_and_step_timeout(backend, tmp_path):
    code = (
        "import sys, struct, time\n"
        "inp, out = sys.stdin.buffer, sys.stdout.buffer\n"
        "n = struct.unpack('>I', inp.read(4))[0]; data = inp.read(n)\n"
        "out.write(struct.pack('>I', len(data)) + data); out.flush()\n"
        "time.sleep(30)\n"
    )
    session = backend.start_session(job(tmp_path, code))
    session.send(P.encode_frame(P.OBS, P.encode_array(np.arange(3))), 5)
    assert session.recv(10)[:1] == P.OBS
    with pytest.raises(SessionTimeout):
        session.recv(0.3)
    result = session.close()
    assert result.exit_code is not None and result.wall_time_s < 10


def test_harness_stays_reachable_in_a_checkout_others_cannot_enter(backend, tmp_path, monkeypatch):
    # `git clone . "$(mktemp -d)/fresh"` puts the checkout under a 0700 folder: the sandbox
    # user must still reach the harness (and the interpreter), and nothing else there.
    import shutil

    from grader.sandbox import process

    locked = tmp_path / "locked"
    sandboxes = locked / "checkout" / "sandboxes"
    shutil.copytree(process.SANDBOXES_DIR / "harness", sandboxes / "harness")
    (locked / "checkout" / "secret.txt").write_text("private")
    os.chmod(locked, 0o700)
    monkeypatch.setattr(process, "SANDBOXES_DIR", sandboxes)
    code = (
        "import harness, os\n"
        f"print('HARNESS', os.path.dirname(harness.__file__))\n"
        f"print('SECRET', os.path.exists({str(locked / 'checkout' / 'secret.txt')!r}))\n"
    )
    result = backend.run(job(tmp_path, code))
    assert result.exit_code == 0, result.log
    assert f"HARNESS {process_backend.HARNESS_ROOT}/harness" in result.log
    assert "SECRET False" in result.log


# Issue 15, item 7: never root, never a quiet fallback.

STATUS_PROBE = (
    "import os\n"
    "status = dict(l.split(':', 1) for l in open('/proc/self/status') if ':' in l)\n"
    "print('UID', os.getuid(), os.geteuid(), 'CAPS', int(status['CapEff'], 16),\n"
    "      'NNP', status['NoNewPrivs'].strip())\n"
    "for how in (lambda: os.setuid(0), lambda: os.setgid(0)):\n"
    "    try:\n"
    "        how()\n"
    "        print('BECAME ROOT')\n"
    "    except OSError:\n"
    "        pass\n"
)


def uid_of(log: str) -> int:
    return int(log.split("UID ", 1)[1].split()[0])


def test_entry_never_runs_as_root_and_cannot_become_it(backend, tmp_path):
    result = backend.run(job(tmp_path, STATUS_PROBE))
    assert result.exit_code == 0, result.log
    assert uid_of(result.log) != 0 and "UID 0" not in result.log
    assert "CAPS 0 NNP 1" in result.log and "BECAME ROOT" not in result.log


@pytest.fixture
def fresh_probe(monkeypatch):
    """Forget this process's probe result, as in a new worker process."""
    monkeypatch.setattr(process_backend, "_ISOLATION", None, raising=False)
    monkeypatch.setattr(process_backend, "_FEATURES", None, raising=False)


def test_without_the_user_switch_it_refuses_instead_of_running_as_root(
    fresh_probe, monkeypatch, tmp_path
):
    # The switch to the sandbox's uid is unavailable (no setpriv here; before bubblewrap: no
    # `nobody` account). The backend must refuse, never run the entry as root.
    import pwd

    def no_such_user(name):
        raise KeyError(name)

    monkeypatch.setattr(pwd, "getpwnam", no_such_user)
    monkeypatch.setattr(process_backend, "SETPRIV", str(tmp_path / "no-setpriv"), raising=False)
    if os.geteuid() != 0:
        pytest.skip("the user switch is only made when root starts the sandbox")
    try:
        backend = get_backend("process")
        result = backend.run(job(tmp_path, STATUS_PROBE))
    except PlatformError as exc:
        assert "setpriv" in str(exc)
        return
    assert uid_of(result.log) != 0, "an entry ran as root"


def test_a_killed_probe_refuses_and_a_later_probe_is_never_weaker(
    fresh_probe, monkeypatch, tmp_path
):
    # A leftover process that kills the probe must not buy a weaker mode for later entries.
    kill_self = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"
    monkeypatch.setattr(process_backend, "PROBE_CODE", kill_self, raising=False)
    with pytest.raises(PlatformError, match="unavailable"):
        get_backend("process")
    monkeypatch.undo()  # the attack is over: the next probe gets the full isolation again
    monkeypatch.setattr(process_backend, "_ISOLATION", None, raising=False)
    backend = get_backend("process")
    result = backend.run(job(tmp_path, STATUS_PROBE))
    assert uid_of(result.log) != 0 and "CAPS 0 NNP 1" in result.log


# Issue 15, item 9: runs cannot reach each other.


def test_tmp_and_shm_are_private_and_gone_after_the_run(backend, tmp_path):
    token = f"grader-leftover-{secrets.token_hex(6)}"
    code = (
        "import os\n"
        f"open('/dev/shm/{token}', 'wb').write(b'x' * 2**20)\n"
        f"open('/tmp/{token}', 'wb').write(b'x' * 2**20)\n"
        "print('SAW', sorted(os.listdir('/dev/shm')), sorted(os.listdir('/tmp')))\n"
    )
    first = backend.run(job(tmp_path, code))
    assert first.exit_code == 0, first.log
    assert not os.path.exists(f"/dev/shm/{token}") and not os.path.exists(f"/tmp/{token}")
    second = backend.run(job(tmp_path, "import os\nprint('SAW', os.listdir('/dev/shm'))\n"))
    assert "SAW []" in second.log


def test_concurrent_runs_have_their_own_uids(backend, tmp_path):
    # The first run holds its slot (an open session) for as long as the second runs, however
    # slow the machine: the two overlap by construction, not by timing.
    # (A session's stdout is its channel: the first run writes to its log, stderr.)
    held = "import sys\nsys.stdout = sys.stderr\n" + STATUS_PROBE + "sys.stdin.read()\n"
    first = backend.start_session(job(tmp_path / "a", held))
    try:
        second = backend.run(job(tmp_path / "b", STATUS_PROBE))
    finally:
        first_result = first.close()
    uids = {uid_of(first_result.log), uid_of(second.log)}
    assert len(uids) == 2 and 0 not in uids


def test_a_leftover_cannot_touch_the_next_runs_files(backend, tmp_path):
    # A daemon left by one run tries, for seconds, to rewrite every output folder it can find.
    token = f"grader-leftover-{secrets.token_hex(6)}"
    vandal = (
        "import glob\\n"
        "end = time.time() + 6\\n"
        "while time.time() < end:\\n"
        "    for d in glob.glob('/tmp/grader-sbx-*/out') + glob.glob('/sandbox/out'):\\n"
        "        try: open(d + '/result.txt', 'w').write('pwned')\\n"
        "        except OSError: pass\\n"
        "    time.sleep(0.05)\\n"
    ).replace("\\n", "\n")
    first = backend.run(job(tmp_path / "a", daemon_code(token, vandal)))
    assert "LEFT A DAEMON" in first.log, first.log
    victim = (
        "import os, time\n"
        "open(os.environ['SANDBOX_OUT'] + '/result.txt', 'w').write('mine')\n"
        "time.sleep(2)\n"
    )
    second = backend.run(job(tmp_path / "b", victim))
    assert second.exit_code == 0, second.log
    assert (tmp_path / "b" / "out" / "result.txt").read_text() == "mine"


# Issue 15, item 10: no Unix socket of the host is reachable.


def test_host_unix_sockets_are_unreachable(backend, tmp_path):
    token = secrets.token_hex(6)
    paths = [f"/tmp/grader-test-{token}.sock"]
    if os.access("/run", os.W_OK):
        paths.append(f"/run/grader-test-{token}.sock")
    listeners = []
    try:
        for path in paths:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            os.chmod(path, 0o777)  # like a database's socket: anyone who sees it may connect
            s.listen()
            listeners.append(s)
        abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        abstract.bind(f"\0grader-test-{token}")
        abstract.listen()
        listeners.append(abstract)
        targets = [*paths, f"\0grader-test-{token}"]
        code = (
            "import socket\n"
            f"for target in {targets!r}:\n"
            "    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
            "    try:\n"
            "        s.connect(target)\n"
            "        print('CONNECTED', repr(target))\n"
            "    except OSError as e:\n"
            "        print('REFUSED', repr(target), e)\n"
        )
        result = backend.run(job(tmp_path, code))
        assert result.exit_code == 0, result.log
        assert "CONNECTED" not in result.log and result.log.count("REFUSED") == len(targets)
    finally:
        for s in listeners:
            s.close()
        for path in paths:
            Path(path).unlink(missing_ok=True)


def test_mounts_given_as_relative_paths(backend, tmp_path, monkeypatch):
    # The CLI passes `--hidden-dir var/hidden` as typed: bwrap itself starts from /.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("hello")
    monkeypatch.chdir(tmp_path)
    code = "import os\nprint(open(os.environ['SANDBOX_DATA'] + '/a.txt').read())\n"
    result = backend.run(
        Job(
            ("python", "-c", code), {"data": Path("data")}, tmp_path / "out", SandboxLimits(20, 500)
        )
    )
    assert result.exit_code == 0 and "hello" in result.log, result.log


def test_mounts_the_sandbox_user_cannot_read_are_copied_for_it(backend, tmp_path):
    # Files unpacked under a strict umask (0600) must still reach the entry, read-only.
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "a.txt").write_text("hello")
    (data / "a.txt").chmod(0o600)
    code = (
        "import os\n"
        "p = os.environ['SANDBOX_DATA'] + '/a.txt'\n"
        "print(open(p).read())\n"
        "try:\n    open(p, 'w')\nexcept OSError:\n    print('read-only')\n"
    )
    result = backend.run(
        Job(("python", "-c", code), {"data": data}, tmp_path / "out", SandboxLimits(20, 500))
    )
    assert result.exit_code == 0 and "hello" in result.log and "read-only" in result.log
    assert (data / "a.txt").stat().st_mode & 0o777 == 0o600  # the original is untouched


def test_memory_limit_covers_what_the_run_keeps_in_tmp_and_shm(backend, tmp_path):
    # tmpfs pages are memory that no process's RSS shows: they count against the limit too.
    code = (
        "import time\n"
        "for d in ('/tmp', '/dev/shm'):\n"
        "    open(d + '/fill', 'wb').write(b'x' * 60 * 2**20)\n"
        "b = bytearray(150 * 2**20)\n"
        "time.sleep(10)\n"
    )
    result = backend.run(job(tmp_path, code, memory=256))
    assert result.oom and result.peak_memory_mb >= 256, result


def test_denied_paths_inside_a_system_folder_are_hidden_there(backend, tmp_path, monkeypatch):
    # A checkout under /usr/src (or a var/ beside the venv) lies inside what the sandbox must
    # see: its private folders are still covered.
    system = tmp_path / "system"
    (system / "private").mkdir(parents=True)
    (system / "public.txt").write_text("shown")
    (system / "private" / "db.sqlite3").write_text("secret")
    monkeypatch.setattr(process_backend, "ETC_FILES", (*process_backend.ETC_FILES, str(system)))
    code = (
        "import os\n"
        f"print(open({str(system / 'public.txt')!r}).read())\n"
        f"print('PRIVATE', os.listdir({str(system / 'private')!r}))\n"
    )
    result = backend.run(
        Job(
            ("python", "-c", code),
            {},
            tmp_path / "out",
            SandboxLimits(20, 500),
            deny_paths=(system / "private",),
        )
    )
    assert result.exit_code == 0, result.log
    assert "shown" in result.log and "PRIVATE []" in result.log


def test_slot_locks_are_the_machine_s_whatever_tmpdir_says(tmp_path):
    # Slot uids are machine-wide: a worker with another TMPDIR must claim from the same locks,
    # or two workers would run entries under one uid and clear each other's processes.
    import subprocess
    import sys

    code = "from grader.sandbox.process import SLOT_DIR; print(SLOT_DIR)"
    seen = set()
    for tmpdir in (None, str(tmp_path)):
        env = {k: v for k, v in os.environ.items() if k != "TMPDIR"}
        if tmpdir:
            env["TMPDIR"] = tmpdir
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        seen.add(out.stdout.strip())
    assert len(seen) == 1, seen
    assert not seen.pop().startswith(str(tmp_path))
