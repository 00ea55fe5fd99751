"""The process backend on its own: limits, isolation, outputs, logs, sessions."""

import os
import time

import numpy as np
import pytest

from grader import protocol as P
from grader.sandbox import Job, SandboxLimits, get_backend
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


def test_describes_itself_as_weak(backend):
    assert backend.isolation == "process (weak)" and backend.image_digest is None
    assert backend.describe()["network isolation"] in {"network namespace", "unavailable"}


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


def test_wall_clock_kills_the_whole_group(backend, tmp_path):
    code = (
        "import subprocess, sys, time\n"
        "leave = 'import os, time; os.setsid(); time.sleep(60)'\n"
        "p = subprocess.Popen([sys.executable, '-c', leave])\n"
        "print('GRANDCHILD', p.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    t = time.monotonic()
    result = backend.run(job(tmp_path, code, wall=1.5))
    assert result.timed_out and not result.oom
    assert time.monotonic() - t < 5
    pid = int(result.log.split("GRANDCHILD")[1].split()[0])
    time.sleep(0.2)
    # Even a grandchild that left the process group is gone (or a reaped zombie).
    if os.path.exists(f"/proc/{pid}/stat"):
        assert open(f"/proc/{pid}/stat").read().split(")")[1].split()[0] == "Z"


def test_memory_is_watched_by_rss(backend, tmp_path):
    result = backend.run(
        job(tmp_path, "b = bytearray(600 * 2**20)\nimport time; time.sleep(10)", memory=200)
    )
    assert result.oom and result.peak_memory_mb > 200


def test_no_network_when_the_kernel_allows(backend, tmp_path):
    if backend.describe()["network isolation"] == "unavailable":
        pytest.skip("network isolation: unavailable on this kernel")
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

    if backend.describe()["user"].startswith("unchanged"):
        pytest.skip("the process sandbox keeps this user here (not root)")
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
    assert f"HARNESS {sandboxes / 'harness'}" in result.log
    assert "SECRET False" in result.log
