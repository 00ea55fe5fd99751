"""Two-phase grading: run the entry in a sandbox on the test inputs, then score in the worker.

`grade(request, on_event)` is the one call the platform makes. Platform faults raise
`PlatformError`; everything that is the entry's fault comes back as a `Report`.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader import __version__
from grader.entry import EntryInfo, unpack_entry
from grader.errors import EntryRejected, GradingCancelled
from grader.hidden import Dataset, default_hidden_dir, load_seeds, resolve_dataset
from grader.interactive import Episodes, PolicyFault, play
from grader.report import PrivateSession, Receipt, Report
from grader.sandbox import Backend, Job, RunResult, SandboxLimits, get_backend
from grader.sandbox.base import SessionClosed
from grader.scoring import (
    CausalityViolation,
    OutputInvalid,
    Scores,
    score_classification,
    score_next_char,
)
from grader.specs import LabSpec, load_spec
from grader.text import one_line, sanitize

EventHandler = Callable[[str, dict[str, Any]], None]
HEARTBEAT_S = 2.0
LOG_BYTES = 64 * 1024


@dataclass(frozen=True)
class GradeRequest:
    lab_id: str
    entry_path: Path | str
    hidden_dir: Path | str | None = None  # default: $GRADER_HIDDEN_DIR or <repo>/var/hidden
    backend: str = "process"
    cancel: Callable[[], bool] | None = None  # polled while running; True stops the run
    sample: bool = False  # grade against the public sample set instead of the hidden one
    # The caller's own private folders (the platform's database, other students' uploads),
    # hidden from the sandbox like the hidden data.
    private_paths: tuple[Path, ...] = ()
    image: str | None = None  # pin the sandbox image (a re-grade runs on what graded before)


class _Events:
    def __init__(self, on_event: EventHandler | None, cancel: Callable[[], bool] | None) -> None:
        self.on_event = on_event
        self.cancel = cancel
        self.last = 0.0

    def emit(self, event: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(event, data)
        self.last = time.monotonic()

    def tick(self) -> None:
        if self.cancel is not None and self.cancel():
            raise GradingCancelled("grading was cancelled")
        if time.monotonic() - self.last >= HEARTBEAT_S:
            self.emit("heartbeat")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _limits(spec: LabSpec) -> SandboxLimits:
    lim = spec.limits
    return SandboxLimits(
        wall_time_s=lim.wall_time_s,
        memory_mb=lim.memory_mb,
        cpus=min(lim.cpus, os.cpu_count() or 1),
        gpu=lim.gpu,
        output_mb=lim.output_mb,
    )


def _deny_paths(hidden_dir: Path, private: tuple[Path, ...]) -> tuple[Path, ...]:
    extra = [Path(p) for p in os.environ.get("GRADER_SANDBOX_DENY", "").split(os.pathsep) if p]
    return (hidden_dir.resolve(), *(Path(p).resolve() for p in private), *extra)


def grade(request: GradeRequest, on_event: EventHandler | None = None) -> Report:
    started_at = _now()
    spec = load_spec(request.lab_id)
    hidden_dir = Path(request.hidden_dir) if request.hidden_dir else default_hidden_dir()
    dataset = resolve_dataset(spec, hidden_dir, sample=request.sample)
    backend = get_backend(request.backend, image=request.image)
    events = _Events(on_event, request.cancel)
    deny = _deny_paths(hidden_dir, request.private_paths)
    seeds = load_seeds(dataset) if spec.task == "interactive" else None
    seeds_id = None
    if seeds is not None:
        seeds_id = hashlib.sha256(json.dumps(seeds, sort_keys=True).encode()).hexdigest()[:16]

    def finish(report: Report, run: RunResult | None) -> Report:
        report.reason = one_line(report.reason, 1000) if report.reason else ""
        report.logs = sanitize(report.logs, LOG_BYTES)
        if report.private_session is not None:
            report.private_session.reason = one_line(report.private_session.reason, 1000)
            report.private_session.logs = sanitize(report.private_session.logs, LOG_BYTES)
        report.receipt = Receipt(
            grader_version=__version__,
            lab_spec_hash=spec.spec_hash,
            dataset_name=dataset.name,
            dataset_checksum=dataset.checksum,
            dataset_verified=dataset.verified,
            seeds_id=seeds_id,
            backend=backend.name,
            isolation=backend.isolation,
            image_digest=backend.image_digest,
            hardware=_hardware(spec),
            wall_time_s=run.wall_time_s if run else 0.0,
            peak_memory_mb=run.peak_memory_mb if run else 0.0,
            started_at=started_at,
            finished_at=_now(),
        )
        if not dataset.verified and not dataset.sample:
            report.details.setdefault("notes", []).append(
                "the hidden data set is unverified: its lab spec has no checksum yet"
            )
        return report

    with tempfile.TemporaryDirectory(prefix="grader-job-") as tmp:
        entry_dir = Path(tmp) / "entry"
        try:
            info = unpack_entry(request.entry_path, spec, entry_dir)
        except EntryRejected as exc:
            return finish(Report(status="rejected", reason=exc.reason), None)
        if spec.task == "interactive":
            assert seeds is not None
            report, run = _grade_interactive(spec, info, entry_dir, seeds, backend, deny, events)
        else:
            report, run = _grade_batch(
                spec, info, entry_dir, dataset, backend, deny, events, Path(tmp)
            )
        report.details.setdefault("entry", {"kind": info.kind, "main": info.main})
        return finish(report, run)


def sandbox_time_budget_s(spec: LabSpec) -> float:
    """The most sandbox wall time one grading of this lab may take: the lab's limit once per
    sandbox run (interactive labs play public and private episodes in separate sessions)."""
    sessions = 2 if spec.task == "interactive" else 1
    return spec.limits.wall_time_s * sessions


def _hardware(spec: LabSpec) -> str:
    u = os.uname()
    return f"{u.machine}, {os.cpu_count()} CPUs, {'GPU' if spec.limits.gpu else 'no GPU'}"


def _command(mode: str, spec: LabSpec, info: EntryInfo) -> tuple[str, ...]:
    return (
        "python",
        "-m",
        "harness",
        mode,
        "--task",
        spec.task,
        "--kind",
        info.kind,
        "--main",
        info.main,
    )


def _ended_badly(spec: LabSpec, run: RunResult) -> Report | None:
    """The report for a sandbox that was stopped, or None when it was not."""
    if run.oom:
        return Report(
            status="oom",
            reason=f"your entry used more than the {spec.limits.memory_mb} MB of memory allowed "
            "and was stopped",
            logs=run.log,
        )
    if run.timed_out:
        return Report(
            status="timeout",
            reason=f"your entry did not finish within the {spec.limits.wall_time_s:g} s allowed "
            "and was stopped",
            logs=run.log,
        )
    return None


def _harness_status(out_dir: Path) -> dict[str, str]:
    """What the harness said about the run; untrusted, so only short strings are kept."""
    path = out_dir / "harness.json"
    try:
        if path.stat().st_size > 65536:
            return {}
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: str(raw.get(k, ""))[:2000] for k in ("status", "reason")}


def _last_error_line(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _grade_batch(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    dataset: Dataset,
    backend: Backend,
    deny: tuple[Path, ...],
    events: _Events,
    tmp: Path,
) -> tuple[Report, RunResult]:
    out_dir = tmp / "out"
    job = Job(
        command=_command("batch", spec, info),
        mounts={"entry": entry_dir, "inputs": dataset.inputs_dir},
        output_dir=out_dir,
        limits=_limits(spec),
        env={"GRADER_TASK": spec.task},
        deny_paths=deny,
    )
    events.emit("running", backend=backend.name, entry_kind=info.kind)
    run = backend.run(job, on_tick=events.tick)
    stopped = _ended_badly(spec, run)
    if stopped is not None:
        return stopped, run
    said = _harness_status(out_dir)
    if run.exit_code != 0:
        if said.get("status") == "rejected" and run.exit_code == 3:
            return Report(status="rejected", reason=said["reason"], logs=run.log), run
        why = said.get("reason") or _last_error_line(run.log) or "no error message"
        code = run.exit_code if run.exit_code is not None else "?"
        if isinstance(code, int) and code < 0:
            why = f"killed by signal {-code}; {why}"
        return Report(status="failed", reason=f"your entry crashed: {why}", logs=run.log), run
    events.emit("scoring")
    try:
        if spec.task == "classification":
            scores = score_classification(spec, dataset, out_dir)
        else:
            scores = score_next_char(spec, dataset, out_dir, entry_dir, info)
    except OutputInvalid as exc:
        return Report(status="invalid_output", reason=str(exc), logs=run.log), run
    except CausalityViolation as exc:
        return Report(status="rejected", reason=str(exc), logs=run.log), run
    return _scored(scores, run.log), run


def _scored(scores: Scores, log: str) -> Report:
    return Report(
        status="scored",
        metrics=scores.metrics,
        split_metrics=scores.split_metrics,
        details=scores.details,
        logs=log,
    )


def _grade_interactive(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    seeds: dict[str, list[int]],
    backend: Backend,
    deny: tuple[Path, ...],
    events: _Events,
) -> tuple[Report, RunResult | None]:
    """Public episodes in one sandbox session, then private ones in a fresh one.

    The policy is told its rewards, so anything it prints (or how it ends) in private episodes
    can carry the private score. The private session therefore starts only after the public
    one has ended and its log has been read, shares nothing with it, and everything about it
    goes into `Report.private_session`, which students see only after the reveal. If the private
    episodes fail, the run is still "scored" on the public split (with no private metrics):
    the status a student sees before the reveal must not depend on private episodes."""
    events.emit("running", backend=backend.name, entry_kind=info.kind)
    public, failed, run = _play_session(
        spec, info, entry_dir, seeds["public"], backend, deny, events
    )
    if failed is not None:
        return failed, run
    private_part: PrivateSession | None = None
    private = Episodes()
    if seeds["private"]:
        played, private_failed, private_run = _play_session(
            spec, info, entry_dir, seeds["private"], backend, deny, events
        )
        assert private_run is not None
        private_part = PrivateSession(
            status=private_failed.status if private_failed else "scored",
            reason=private_failed.reason if private_failed else "",
            logs=private_run.log,
            wall_time_s=private_run.wall_time_s,
            peak_memory_mb=private_run.peak_memory_mb,
        )
        private = played or Episodes()
    events.emit("scoring")
    from grader.metrics import return_stats

    names = set(spec.metric_names)

    def stats(returns: list[float]) -> dict[str, float]:
        return {k: v for k, v in return_stats(returns).values.items() if k in names}

    returns = {"public": public.returns, "private": private.returns}
    details: dict[str, Any] = {
        "returns": returns,
        "lengths": {"public": public.lengths, "private": private.lengths},
    }
    if private_part is not None and private_part.status != "scored":
        # No whole-set or private score: the private standings list this run as unscored.
        scores = Scores(
            metrics={}, split_metrics={"public": stats(public.returns)}, details=details
        )
    else:
        scores = Scores(
            metrics=stats(public.returns + private.returns),
            split_metrics={s: stats(returns[s]) for s in ("public", "private")},
            details=details,
        )
    if scores.split_metrics.get("private") is None:
        returns = {"public": public.returns}
    _attach_return_intervals(spec, scores, returns)
    report = _scored(scores, run.log if run else "")
    report.private_session = private_part
    return report, run


def _play_session(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    seeds: list[int],
    backend: Backend,
    deny: tuple[Path, ...],
    events: _Events,
) -> tuple[Episodes, Report | None, RunResult | None]:
    """One sandbox session playing one episode per seed: its episodes, or the report of how
    the policy failed, and how the sandbox ended (None when there was nothing to play)."""
    assert spec.environment is not None
    if not seeds:
        return Episodes(), None, None
    with tempfile.TemporaryDirectory(prefix="grader-out-") as out:
        job = Job(
            command=_command("interactive", spec, info),
            mounts={"entry": entry_dir},
            output_dir=Path(out),
            limits=_limits(spec),
            env={"GRADER_TASK": spec.task},
            deny_paths=deny,
        )
        session = backend.start_session(job)
        fault: PolicyFault | None = None
        episodes = Episodes()
        try:
            startup = min(spec.environment.startup_timeout_s, spec.limits.wall_time_s)
            episodes = play(session, spec.environment, seeds, events.tick, startup)
        except PolicyFault as exc:
            fault = exc
        except SessionClosed:
            fault = PolicyFault("failed", "")
        finally:
            run = session.close()
    stopped = _ended_badly(spec, run)
    if stopped is not None:
        return episodes, stopped, run
    if fault is not None:
        reason = fault.reason or (
            f"your policy exited unexpectedly (exit code {run.exit_code}): "
            f"{_last_error_line(run.log) or 'no error message'}"
        )
        return episodes, Report(status=fault.status, reason=reason, logs=run.log), run
    return episodes, None, run


def _attach_return_intervals(
    spec: LabSpec, scores: Scores, returns: dict[str, list[float]]
) -> None:
    from grader import intervals as I
    from grader.scoring import attach_intervals

    names = set(spec.metric_names)
    seed = I.seed_of(spec.id, repr(returns))
    attach_intervals(
        scores.details,
        {s: I.return_intervals(r, names, seed + i) for i, (s, r) in enumerate(returns.items())},
    )
