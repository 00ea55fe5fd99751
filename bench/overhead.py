"""Grading overhead and queue pickup, with one idle worker.

For each entry: upload it through the API (gunicorn) and take the wall time from just before
the POST to the run's recorded `finished_at`; then run the same harness directly, without the
platform, on the same inputs. The gap is the platform's cost per entry: the HTTP request,
upload checks, queueing, staging, the sandbox's workspace, scoring and recording.

- Batch labs (classification): direct = the sandbox harness command run by hand
  (`python -m harness batch ...`) on the hidden inputs, as the process backend runs it.
- Interactive and next-character labs (CartPole, Pong; Lab 1): the harness only answers
  actions or scores; the loop that steps it lives in the grader, so direct =
  `grader.pipeline.grade` called in-process (same backend).

With the docker backend (when Docker and the sandbox image are here) the batch labs' direct
run is `docker run` by hand: the same image, environment, mounts and main limits.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from .data import LABS, TRIVIAL, baseline_path, entry_bytes
from .report import Report, median, percentile
from .stack import REPO, Stack, wait_until


@dataclass(frozen=True)
class Case:
    name: str
    spec_id: str
    filename: str
    content: bytes
    path: Path | None  # on disk, for the direct run; None means write `content` to a file


@dataclass
class Timing:
    api_s: float
    pickup_s: float
    status: str


def upload(base_url: str, token: str, spec_id: str, filename: str, content: bytes) -> int:
    response = requests.post(
        f"{base_url}/api/labs/{spec_id}/entries/",
        headers={"Authorization": f"Token {token}"},
        files={"file": (filename, content)},
        timeout=60,
    )
    if response.status_code != 201:
        raise RuntimeError(f"upload refused ({response.status_code}): {response.text[:300]}")
    return int(response.json()["id"])


def wait_final(entry_id: int, timeout_s: float):
    """The entry's latest run once it reached a final state."""
    from submissions.models import FINAL, GradingRun

    def final():
        run = GradingRun.objects.filter(entry_id=entry_id).order_by("-pk").first()
        return run if run is not None and run.status in FINAL else None

    return wait_until(final, timeout_s, f"entry {entry_id} to be graded", poll_s=0.02)


def via_api(stack: Stack, token: str, case: Case) -> Timing:
    from grader.specs import load_spec

    assert stack.site is not None
    t0 = time.time()
    entry_id = upload(stack.site.base_url, token, case.spec_id, case.filename, case.content)
    run = wait_final(entry_id, load_spec(case.spec_id).limits.wall_time_s + 120)
    return Timing(
        api_s=run.finished_at.timestamp() - t0,
        pickup_s=(run.started_at - run.queued_at).total_seconds(),
        status=run.status,
    )


def harness_by_hand(spec_id: str, entry: Path, hidden_dir: Path, workdir: Path) -> float:
    """Seconds for the sandbox harness run directly on the hidden inputs (batch labs)."""
    from grader.entry import unpack_entry
    from grader.hidden import resolve_dataset
    from grader.pipeline import _job_env
    from grader.specs import load_spec

    spec = load_spec(spec_id)
    dataset = resolve_dataset(spec, hidden_dir)
    job = Path(tempfile.mkdtemp(dir=workdir, prefix="direct-"))
    info = unpack_entry(entry, spec, job / "entry")
    for name in ("out", "home", "tmp"):
        (job / name).mkdir()
    cpus = str(min(spec.limits.cpus, os.cpu_count() or 1))
    # The same variables the process backend gives the sandbox.
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "PYTHONPATH": str(REPO / "sandboxes"),
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "KERAS_BACKEND": "tensorflow",
        "OMP_NUM_THREADS": cpus,
        "MKL_NUM_THREADS": cpus,
        "CUDA_VISIBLE_DEVICES": "",
        # What the worker tells the harness (layout, class activation maps), as it does.
        **_job_env(spec, info),
        "SANDBOX_ENTRY": str(job / "entry"),
        "SANDBOX_INPUTS": str(dataset.inputs_dir),
        "SANDBOX_OUT": str(job / "out"),
        "HOME": str(job / "home"),
        "TMPDIR": str(job / "tmp"),
        "MPLCONFIGDIR": str(job / "tmp"),
    }
    command = [sys.executable, "-m", "harness", "batch", "--task", spec.task]
    command += ["--kind", info.kind, "--main", info.main]
    t0 = time.perf_counter()
    done = subprocess.run(
        command,
        cwd=job / "entry",
        env=env,
        capture_output=True,
        timeout=spec.limits.wall_time_s,
    )
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"direct harness run failed: {done.stderr.decode()[-500:]}")
    return elapsed


DOCKER_IMAGE = os.environ.get("GRADER_DOCKER_IMAGE", "labgrader-sandbox:cpu")


def docker_unavailable() -> str | None:
    """Why the docker backend cannot be measured here, or None when it can."""
    try:
        from grader.sandbox import get_backend

        get_backend("docker")
    except Exception as exc:  # noqa: BLE001 - any failure means "not here"
        return f"the docker backend does not start ({type(exc).__name__}: {exc})"[:300]
    found = subprocess.run(
        ["docker", "image", "inspect", DOCKER_IMAGE], capture_output=True, timeout=60
    )
    if found.returncode != 0:
        return f"no sandbox image {DOCKER_IMAGE} (scripts/build_sandbox_images.sh builds it)"
    return None


def docker_by_hand(spec_id: str, entry: Path, hidden_dir: Path, workdir: Path) -> float:
    """Seconds for `docker run` of the harness by hand, as the docker backend configures it."""
    from grader.entry import unpack_entry
    from grader.hidden import resolve_dataset
    from grader.pipeline import _job_env
    from grader.sandbox.base import Job, SandboxLimits
    from grader.sandbox.docker import MOUNT_ROOT, sandbox_env
    from grader.specs import load_spec

    spec = load_spec(spec_id)
    lim = spec.limits
    dataset = resolve_dataset(spec, hidden_dir)
    job_dir = Path(tempfile.mkdtemp(dir=workdir, prefix="docker-"))
    info = unpack_entry(entry, spec, job_dir / "entry")
    out = job_dir / "out"
    out.mkdir()
    os.chmod(out, 0o777)  # noqa: S103 - the container's unprivileged user writes here
    command = ("python3", "-m", "harness", "batch", "--task", spec.task)
    command += ("--kind", info.kind, "--main", info.main)
    cpus = min(lim.cpus, os.cpu_count() or 1)
    limits = SandboxLimits(wall_time_s=lim.wall_time_s, memory_mb=lim.memory_mb, cpus=cpus)
    job = Job(
        command=command,
        mounts={"entry": job_dir / "entry", "inputs": dataset.inputs_dir},
        output_dir=out,
        limits=limits,
        env=_job_env(spec, info),
    )
    args = ["docker", "run", "--rm", "--network", "none", "--user", "65534:65534"]
    args += ["--read-only", "--tmpfs", "/tmp:rw,noexec,nosuid,nodev,size=1024m,mode=1777"]
    args += ["--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--init"]
    args += ["--pids-limit", "1024", "--memory", f"{lim.memory_mb}m"]
    args += ["--memory-swap", f"{lim.memory_mb}m", "--cpus", str(cpus)]
    args += ["-w", f"{MOUNT_ROOT}/entry"]
    for name, src in job.mounts.items():
        args += ["-v", f"{src}:{MOUNT_ROOT}/{name}:ro"]
    args += ["-v", f"{out}:{MOUNT_ROOT}/out"]
    for key, value in sandbox_env(job, gpu=False).items():
        args += ["-e", f"{key}={value}"]
    args += [DOCKER_IMAGE, *command]
    t0 = time.perf_counter()
    done = subprocess.run(args, capture_output=True, timeout=lim.wall_time_s + 60)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(f"docker run by hand failed: {done.stderr.decode()[-500:]}")
    return elapsed


def grade_in_process(spec_id: str, entry: Path, hidden_dir: Path, backend: str) -> float:
    """Seconds for the grader itself (sandbox session + environment loop), no platform."""
    from grader.pipeline import GradeRequest, grade

    t0 = time.perf_counter()
    request = GradeRequest(lab_id=spec_id, entry_path=entry, hidden_dir=hidden_dir, backend=backend)
    report = grade(request)
    elapsed = time.perf_counter() - t0
    if report.status != "scored":
        raise RuntimeError(f"direct grade of {entry} ended {report.status}: {report.reason}")
    return elapsed


def direct(case: Case, hidden_dir: Path, workdir: Path, backend: str) -> float:
    from grader.specs import load_spec

    path = case.path
    if path is None:
        path = workdir / f"{case.name}-{case.filename}"
        path.write_bytes(case.content)
    task = load_spec(case.spec_id).task
    if task in ("interactive", "next_char"):
        return grade_in_process(case.spec_id, path, hidden_dir, backend)
    by_hand = docker_by_hand if backend == "docker" else harness_by_hand
    return by_hand(case.spec_id, path, hidden_dir, workdir)


def cases(quick: bool) -> list[Case]:
    found = [Case("trivial", "lab3-cartpole", "submission.py", TRIVIAL, None)]
    # --quick keeps only the baselines without a deep-learning framework to import.
    labs = ("lab3-cartpole",) if quick else LABS
    for spec_id in labs:
        path = baseline_path(spec_id)
        filename, content = entry_bytes(path)
        found.append(Case(f"{spec_id}.baseline", spec_id, filename, content, path))
    return found


def run(stack: Stack, report: Report, token: str, quick: bool, backend: str = "process") -> None:
    """Figures `overhead.<case>.*` and `pickup.*`; with docker, `overhead.docker.<case>.*` and
    `pickup.docker.*`. The caller has started one idle worker on `backend`."""
    print(f"\n== Grading overhead and queue pickup (1 idle worker, {backend} sandbox)", flush=True)
    prefix = "" if backend == "process" else f"{backend}."
    workdir = stack.env.root / f"direct-{backend}"
    workdir.mkdir(exist_ok=True)
    hidden = stack.env.hidden_dir
    reps = 1 if quick else 3
    pickups: list[float] = []
    # A first upload warms the worker (imports, database connection) like any live worker.
    warm = cases(True)[0]
    via_api(stack, token, warm)
    for case in cases(quick):
        direct(case, hidden, workdir, backend)  # warms the page cache and the framework's files
        api_times: list[float] = []
        direct_times: list[float] = []
        for _ in range(reps):
            timing = via_api(stack, token, case)
            if timing.status != "scored":
                report.note(f"{case.name} via the API ended {timing.status}")
            api_times.append(timing.api_s)
            pickups.append(timing.pickup_s)
            direct_times.append(direct(case, hidden, workdir, backend))
        api_s, direct_s = median(api_times), median(direct_times)
        key = f"overhead.{prefix}{case.name}"
        report.add(f"{key}.api_s", api_s, "s")
        report.add(f"{key}.direct_s", direct_s, "s")
        report.add(f"{key}.ratio", api_s / direct_s, "x")
        report.add(f"{key}.gap_s", api_s - direct_s, "s", "< 1.0")
    # More trivial uploads, one at a time, so the pickup percentile rests on enough samples.
    extra = 3 if quick else (30 if backend == "process" else 10)
    for _ in range(extra):
        pickups.append(via_api(stack, token, cases(True)[0]).pickup_s)
    report.add(f"pickup.{prefix}samples", len(pickups))
    report.add(f"pickup.{prefix}p50_s", percentile(pickups, 50), "s")
    report.add(f"pickup.{prefix}p95_s", percentile(pickups, 95), "s", "< 1.0")
