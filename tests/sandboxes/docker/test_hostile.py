"""Hostile entries, each graded for real through the pipeline on the Docker backend.

Probe entries report what they saw by raising `RuntimeError("REPORT {json}")`, which reaches
the report's reason. Every test ends by checking that no sandbox container is left and that
a normal entry still scores (`no_leftovers`).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
import zipfile
from pathlib import Path

import pytest

from tests.grader import synth

pytestmark = [pytest.mark.docker]
LABEL = "labgrader.sandbox"


def entry(tmp_path: Path, source: str, name: str = "e") -> Path:
    return synth.write_entry(tmp_path / name, source)


def report_of(reason: str) -> dict:
    assert "REPORT " in reason, reason
    return json.loads(reason.split("REPORT ", 1)[1])


PROFILE_PROBE = """
import json, os, resource
def predict(x):
    status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines()
                  if ":\\t" in l)
    mounts = {l.split()[1]: l.split()[3] for l in open("/proc/self/mounts")}
    try:
        open("/etc/probe", "w")
        root_writable = True
    except OSError:
        root_writable = False
    r = {
        "uid": os.getuid(), "gid": os.getgid(),
        "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(),
        "nnp": status["NoNewPrivs"].strip(), "seccomp": status["Seccomp"].strip(),
        "root_writable": root_writable, "tmp": mounts.get("/tmp", ""),
        "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[1],
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[1],
        "core": resource.getrlimit(resource.RLIMIT_CORE)[1],
        "net": sorted(os.listdir("/sys/class/net")),
        "pid1": open("/proc/1/cmdline").read().split("\\0")[0],
        "env": sorted(os.environ),
    }
    raise RuntimeError("REPORT " + json.dumps(r, separators=(",", ":")))
"""


def test_profile_is_applied_inside_the_sandbox(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab2-mnist", entry(tmp_path, PROFILE_PROBE))
    assert report.status == "failed"
    r = report_of(report.reason)
    assert (r["uid"], r["gid"]) == (65534, 65534)
    assert int(r["cap_eff"], 16) == 0 and int(r["cap_bnd"], 16) == 0
    assert r["nnp"] == "1" and r["seccomp"] == "2"  # no new privileges; seccomp filter on
    assert r["root_writable"] is False
    assert "noexec" in r["tmp"] and "size=" in r["tmp"]
    assert r["fsize"] == 16 * 1024 * 1024 and r["nofile"] == 512 and r["core"] == 0
    assert r["net"] == ["lo"]
    assert "init" in r["pid1"]
    allowed = {
        "PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "PYTHONPATH", "PYTHONNOUSERSITE",
        "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONHASHSEED", "TF_CPP_MIN_LOG_LEVEL",
        "TF_FORCE_GPU_ALLOW_GROWTH", "KERAS_BACKEND", "KERAS_HOME", "MPLCONFIGDIR",
        "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES", "SANDBOX_OUT",
        "SANDBOX_ENTRY", "SANDBOX_INPUTS", "GRADER_TASK", "GRADER_INPUT_LAYOUT", "HOSTNAME",
    }  # fmt: skip
    assert set(r["env"]) <= allowed, set(r["env"]) - allowed
    assert report.receipt.backend == "docker"
    assert report.receipt.image_digest and "sha256:" in report.receipt.image_digest
    no_leftovers()


LABEL_HUNT = """
import json, os
SECRET = {secret!r}
HOST_LABELS = {host_labels!r}
def predict(x):
    found = []
    for top in ("/", ):
        for dirpath, dirs, files in os.walk(top, onerror=lambda e: None):
            if dirpath.startswith(("/proc", "/sys", "/dev")):
                dirs[:] = []
                continue
            for n in dirs + files:
                if n in ("labels", "labels.npz", "seeds.json", "manifest.json"):
                    found.append(os.path.join(dirpath, n))
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if SECRET.encode() in open(f"/proc/{{pid}}/environ", "rb").read():
                    found.append(f"secret in /proc/{{pid}}/environ")
            except OSError:
                pass
    if any(SECRET in v for v in os.environ.values()):
        found.append("secret in environ")
    if os.path.exists(HOST_LABELS):
        found.append(HOST_LABELS)
    raise RuntimeError("REPORT " + json.dumps(found))
"""


def test_hidden_labels_and_host_secrets_are_nowhere(
    grade_docker, no_leftovers, docker_hidden, tmp_path, monkeypatch
):
    secret = "s3cret-" + os.urandom(6).hex()
    monkeypatch.setenv("GRADER_TEST_SECRET", secret)
    monkeypatch.setenv("DJANGO_SECRET_KEY", secret)
    host_labels = str(docker_hidden[0] / "lab2-mnist-v1" / "labels" / "labels.npz")
    assert Path(host_labels).exists()
    source = LABEL_HUNT.format(secret=secret, host_labels=host_labels)
    report = grade_docker("lab2-mnist", entry(tmp_path, source))
    assert report.status == "failed"
    assert report_of(report.reason) == []
    assert secret not in report.logs
    no_leftovers()


NET_PROBE = """
import json, socket
TARGETS = {targets!r}
def predict(x):
    results = {{}}
    for host, port in TARGETS:
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect((host, port))
            results[host] = "connected"
        except OSError as exc:
            results[host] = type(exc).__name__
        finally:
            s.close()
    try:
        socket.getaddrinfo("pypi.org", 443)
        results["dns"] = "resolved"
    except OSError as exc:
        results["dns"] = type(exc).__name__
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.sendto(b"x", ("8.8.8.8", 53))
        results["udp"] = "sent"
    except OSError as exc:
        results["udp"] = type(exc).__name__
    raise RuntimeError("REPORT " + json.dumps(results))
"""


def _host_address() -> str:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks a route
        return probe.getsockname()[0]
    except OSError:
        return socket.gethostbyname(socket.gethostname())
    finally:
        probe.close()


def test_no_network_loopback_host_or_public(grade_docker, no_leftovers, tmp_path):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    accepted: list[object] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[1])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    host = _host_address()
    targets = [("127.0.0.1", port), (host, port), ("1.1.1.1", 443)]
    try:
        report = grade_docker("lab2-mnist", entry(tmp_path, NET_PROBE.format(targets=targets)))
    finally:
        stop.set()
        thread.join()
        server.close()
    assert report.status == "failed"
    r = report_of(report.reason)
    assert all(v != "connected" for v in r.values()), r
    assert r["dns"] != "resolved" and r["udp"] != "sent", r
    assert accepted == []
    no_leftovers()


FORK_BOMB = """
import os, time
FORKED = [0]  # over every call: the harness calls predict again, row by row, after a failure
def predict(x):
    while True:
        try:
            pid = os.fork()
        except OSError as exc:
            raise RuntimeError(f"fork failed after {FORKED[0]} processes: {exc}")
        if pid == 0:
            time.sleep(3600)
            os._exit(0)
        FORKED[0] += 1
"""


def test_fork_bomb_hits_the_pids_limit(grade_docker, no_leftovers, tmp_path):
    before = len([p for p in os.listdir("/proc") if p.isdigit()])
    report = grade_docker("lab2-mnist", entry(tmp_path, FORK_BOMB))
    assert report.status == "failed", report.reason
    assert "fork failed after" in report.reason and "temporarily unavailable" in report.reason
    n = int(report.reason.split("fork failed after ")[1].split()[0])
    assert 100 < n < 1024  # the pids limit stopped it, not something else
    after = len([p for p in os.listdir("/proc") if p.isdigit()])
    assert after < before + 20  # every forked process is gone with the container
    no_leftovers()


MEMORY_BOMB = """
import numpy as np
def predict(x):
    hoard = []
    while True:
        hoard.append(np.ones(32 * 1024 * 1024, dtype=np.uint8))  # touched, so resident
"""


def test_memory_bomb_is_oom(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab2-mnist", entry(tmp_path, MEMORY_BOMB))
    assert report.status == "oom", report.reason
    assert "512 MB" in report.reason
    no_leftovers()


DISK_FILL = """
import json, os
def fill(path):
    block = b"x" * (1 << 20)
    written = 0
    try:
        with open(path, "wb") as f:
            while written < (4 << 30):
                f.write(block)
                f.flush()
                written += len(block)
    except OSError as exc:
        return [written >> 20, exc.strerror]
    return [written >> 20, "no error"]
def many(directory):
    total = 0
    for i in range(10_000):
        r = fill(os.path.join(directory, f"f{i}"))
        total += r[0]
        if r[1] != "File too large":
            return [total, r[1]]
    return [total, "no error"]
def predict(x):
    r = {"tmp": fill("/tmp/fill"), "out": many(os.environ["SANDBOX_OUT"])}
    for p in ["/tmp/fill"] + [os.path.join(os.environ["SANDBOX_OUT"], n)
                              for n in os.listdir(os.environ["SANDBOX_OUT"])]:
        os.unlink(p)
    raise RuntimeError("REPORT " + json.dumps(r))
"""


def test_disk_fill_stops_at_the_caps(grade_docker, no_leftovers, tmp_path):
    free_before = shutil.disk_usage("/").free
    report = grade_docker("lab2-mnist", entry(tmp_path, DISK_FILL))
    assert report.status == "failed", report.reason
    r = report_of(report.reason)
    # /tmp: a 16 MB file-size cap hits before the 128 MB tmpfs fills.
    assert r["tmp"] == [16, "File too large"]
    # The output folder: a 16 MB tmpfs, however many files are written.
    assert r["out"][1] == "No space left on device" and r["out"][0] <= 16
    assert shutil.disk_usage("/").free > free_before - 200 * 1024 * 1024
    no_leftovers()


def test_sleep_forever_times_out(grade_docker, no_leftovers, tmp_path):
    source = "import time\ndef predict(x):\n    time.sleep(10**6)\n"
    t0 = time.monotonic()
    report = grade_docker("lab2-mnist", entry(tmp_path, source))
    assert report.status == "timeout" and "6 s" in report.reason
    assert time.monotonic() - t0 < 20
    no_leftovers()


def test_process_ignoring_sigterm_is_killed(grade_docker, no_leftovers, tmp_path):
    source = (
        "import signal, os\n"
        "def predict(x):\n"
        "    signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"  # a child that left the process group, busy too
        "        while True: pass\n"
        "    while True: pass\n"
    )
    report = grade_docker("lab2-mnist", entry(tmp_path, source))
    assert report.status == "timeout", report.reason
    no_leftovers()


GIGABYTE = """
import os, sys
SEEN = []
def predict(x):
    if SEEN:  # the harness retries row by row after a failure: fail the same way at once
        raise RuntimeError(SEEN[0])
    chunk = "y" * (1 << 20)
    for _ in range(512):
        sys.stdout.write(chunk)
        sys.stderr.write(chunk)
    path = os.path.join(os.environ["SANDBOX_OUT"], "probabilities.npy")
    try:
        with open(path, "wb") as f:
            for _ in range(1024):
                f.write(chunk.encode())
    except OSError as exc:
        os.unlink(path)
        SEEN.append(f"big output refused: {exc.strerror}")
        raise RuntimeError(SEEN[0])
    return x
"""


def test_a_gigabyte_of_output_is_bounded(grade_docker, no_leftovers, docker_client, tmp_path):
    report = grade_docker("lab2-mnist", entry(tmp_path, GIGABYTE), limits="roomy")
    assert report.status in {"failed", "invalid_output"}, report.reason
    # Whichever comes first at 16 MB: the file-size cap or the full output tmpfs.
    assert "big output refused: " in report.reason
    assert report.reason.endswith(("File too large", "No space left on device"))
    assert len(report.logs.encode()) <= 64 * 1024 + 1024
    no_leftovers()


WRITE_IMAGE = """
import json, os
TARGETS = ["/opt/grader/harness/__main__.py", "/opt/grader/harness/evil.py",
           "/usr/local/lib/python3.11/dist-packages/numpy/__init__.py",
           "/usr/local/lib/python3.11/dist-packages/sitecustomize.py",
           "/usr/bin/python3", os.path.join(os.environ["SANDBOX_ENTRY"], "x"),
           os.path.join(os.environ["SANDBOX_INPUTS"], "images.npy")]
def predict(x):
    r = {}
    for t in TARGETS:
        try:
            with open(t, "ab") as f:
                f.write(b"# pwned")
            r[t] = "written"
        except OSError as exc:
            r[t] = exc.strerror
    raise RuntimeError("REPORT " + json.dumps(r))
"""


def test_harness_site_packages_and_mounts_are_read_only(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab2-mnist", entry(tmp_path, WRITE_IMAGE))
    assert report.status == "failed"
    r = report_of(report.reason)
    assert len(r) == 7 and all(v != "written" for v in r.values()), r
    assert set(r.values()) <= {"Read-only file system", "Permission denied"}, r
    no_leftovers()


DOCKER_SOCKET = """
import json, os, stat
def predict(x):
    found = [p for p in ("/var/run/docker.sock", "/run/docker.sock") if os.path.exists(p)]
    for dirpath, dirs, files in os.walk("/", onerror=lambda e: None):
        if dirpath.startswith(("/proc", "/sys")):
            dirs[:] = []
            continue
        for n in files:
            p = os.path.join(dirpath, n)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    found.append(p)
            except OSError:
                pass
    raise RuntimeError("REPORT " + json.dumps(found))
"""


def test_no_docker_socket_inside(grade_docker, no_leftovers, tmp_path):
    report = grade_docker("lab2-mnist", entry(tmp_path, DOCKER_SOCKET))
    assert report.status == "failed"
    assert report_of(report.reason) == []
    no_leftovers()


PICKLE = """
import os, numpy as np
class Boom:
    def __reduce__(self):
        return (os.system, ("touch {marker}",))
def predict(x):
    path = os.path.join(os.environ["SANDBOX_OUT"], "probabilities.npy")
    np.save(path, np.array([Boom()] * len(x), dtype=object), allow_pickle=True)
    os._exit(0)  # before the harness overwrites the file with a clean array
"""


def test_pickled_object_array_is_never_unpickled(grade_docker, no_leftovers, tmp_path):
    marker = tmp_path / "unpickled-on-the-worker"
    report = grade_docker("lab2-mnist", entry(tmp_path, PICKLE.format(marker=marker)))
    assert report.status == "invalid_output", report.reason
    assert not marker.exists()
    no_leftovers()


def _zip_dotdot(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("submission.py", "def predict(x):\n    return x\n")
        z.writestr("../escape.py", "print('out')\n")


def _zip_symlink(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("submission.py", "def predict(x):\n    return x\n")
        info = zipfile.ZipInfo("labels.npz")
        info.external_attr = (0o120777 << 16) | 0x20
        z.writestr(info, "/etc/passwd")


def _zip_bomb(path: Path) -> None:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("submission.py", "def predict(x):\n    return x\n")
        z.writestr("weights.bin", b"\0" * (200 * 1024 * 1024))


@pytest.mark.parametrize(
    ("make", "words"),
    [(_zip_dotdot, "'..'"), (_zip_symlink, "symbolic link"), (_zip_bomb, "zip bomb")],
    ids=["dotdot", "symlink", "bomb"],
)
def test_bad_zips_are_rejected_before_any_container(
    grade_docker, no_leftovers, docker_client, tmp_path, make, words
):
    path = tmp_path / "entry.zip"
    make(path)
    t0 = time.time_ns()
    report = grade_docker("lab2-mnist", path)
    assert report.status == "rejected" and words in report.reason, report.reason
    events = docker_client.events(
        since=t0 // 10**9 - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "event": "create", "label": LABEL},
        decode=True,
    )
    assert [e for e in events if e["timeNano"] >= t0] == []
    no_leftovers()


@pytest.fixture(scope="module")
def lambda_model(tmp_path_factory) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0)(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    path = tmp_path_factory.mktemp("lambda") / "model.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_keras_lambda_layer_is_refused_by_safe_mode(grade_docker, no_leftovers, lambda_model):
    report = grade_docker("lab2-mnist", lambda_model, limits="roomy")
    assert report.status == "rejected", report.reason
    assert "Lambda layer" in report.reason
    no_leftovers()
