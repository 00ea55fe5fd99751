"""Two-phase grading: run the entry in a sandbox on the test inputs, then score in the worker.

`grade(request, on_event)` is the one call the platform makes. Platform faults raise
`PlatformError`; everything that is the entry's fault comes back as a `Report`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

import numpy as np

from grader import __version__
from grader.entry import EntryInfo, unpack_entry
from grader.errors import EntryRejected, GraderError, GradingCancelled, PlatformError
from grader.hidden import Dataset, default_hidden_dir, load_seeds, resolve_dataset
from grader.interactive import Episodes, PolicyFault, play
from grader.outputs import OutputsRefused, read_json
from grader.report import PrivateSession, Receipt, Report
from grader.sandbox import Backend, Job, RunResult, SandboxLimits, get_backend
from grader.sandbox.base import Session, SessionClosed
from grader.scoring import (
    INPUT_NAMES,
    SPLITS,
    Scores,
    check_splits,
    load_labels,
    load_text_rows,
    score_classification,
    score_next_char,
    split_rows,
)
from grader.specs import LabSpec, load_spec
from grader.stepwise import step_rows
from grader.text import head_and_last_line, sanitize

log = logging.getLogger(__name__)
_T = TypeVar("_T")
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
    # The checksum the hidden set must have when the caller keeps its own record of it (the
    # platform's uploaded sets); None: the lab spec's.
    expected_checksum: str | None = None
    # The test splits this grading runs the entry on; rows and episodes of any other split
    # never enter the sandbox. The platform grades the public split while the author's
    # window is open and the private split in a run of its own once it has closed
    # (docs/private-split.md); staff and tests grade both.
    splits: tuple[str, ...] = tuple(SPLITS)


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


def default_private_paths() -> tuple[Path, ...]:
    """What the site keeps private, hidden from the sandbox whoever grades (the CLI too): the
    checkout's var/ (database, broker folder, worker logs, media, cached sources of the hidden
    data) and wherever the site's settings move those folders."""
    paths = [Path(__file__).resolve().parents[1] / "var"]
    for name in ("PLATFORM_VAR_DIR", "MEDIA_ROOT", "GRADER_HIDDEN_DIR"):
        if os.environ.get(name):
            paths.append(Path(os.environ[name]))
    return tuple(paths)


def _deny_paths(hidden_dir: Path, private: tuple[Path, ...]) -> tuple[Path, ...]:
    extra = [Path(p) for p in os.environ.get("GRADER_SANDBOX_DENY", "").split(os.pathsep) if p]
    mine = (*private, *default_private_paths(), *extra)
    return (hidden_dir.resolve(), *dict.fromkeys(Path(p).resolve() for p in mine))


def grade(request: GradeRequest, on_event: EventHandler | None = None) -> Report:
    started_at = _now()
    spec = load_spec(request.lab_id)
    hidden_dir = Path(request.hidden_dir) if request.hidden_dir else default_hidden_dir()
    dataset = resolve_dataset(
        spec, hidden_dir, sample=request.sample, expected=request.expected_checksum
    )
    splits = check_splits(request.splits)
    backend = get_backend(request.backend, image=request.image)
    events = _Events(on_event, request.cancel)
    deny = _deny_paths(hidden_dir, request.private_paths)
    seeds = load_seeds(dataset) if spec.task == "interactive" else None
    seeds_id = None
    if seeds is not None:
        seeds_id = hashlib.sha256(json.dumps(seeds, sort_keys=True).encode()).hexdigest()[:16]

    def finish(report: Report, run: RunResult | None) -> Report:
        # The head says what failed, the last line what was raised: keep both.
        report.reason = head_and_last_line(report.reason, 1000) if report.reason else ""
        report.logs = sanitize(report.logs, LOG_BYTES)
        if report.private_session is not None:
            report.private_session.reason = head_and_last_line(report.private_session.reason, 1000)
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
            chosen = {s: seeds[s] for s in splits}
            report, run = _grade_interactive(spec, info, entry_dir, chosen, backend, deny, events)
        elif spec.task == "next_char":
            report, run = _grade_next_char(
                spec, info, entry_dir, dataset, splits, backend, deny, events, Path(tmp)
            )
        else:
            report, run = _grade_batch(
                spec, info, entry_dir, dataset, splits, backend, deny, events, Path(tmp)
            )
        report.details.setdefault("entry", {"kind": info.kind, "main": info.main})
        return finish(report, run)


# Short enough for an upload request (gunicorn's default timeout is 30 s); a check that
# runs out of time refuses nothing: the graded run, with the lab's full limits, decides.
LOAD_CHECK_S = 20.0
LOAD_FIX = {
    "keras": (
        "Build it from Keras's own layers, with activations named by string (e.g. "
        "activation='softmax', not activation=tf.nn.softmax), save it again with "
        "model.save('model.keras'), or upload a submission.py that rebuilds the model and "
        "loads its weights"
    ),
    "torch": (
        "Save it with torch.jit.trace(model, example_input).save('model.pt') (or "
        "torch.jit.script, or torch.export to a .pt2), or upload a submission.py that "
        "rebuilds the model and loads its weights"
    ),
}
FRAMEWORK = {"keras": "Keras", "torch": "PyTorch"}


def check_loads(
    lab_id: str,
    entry_path: Path | str,
    backend: str = "process",
    private_paths: tuple[Path, ...] = (),
    time_limit_s: float = LOAD_CHECK_S,
) -> EntryInfo:
    """The upload check that needs to load a model file: run the harness in a sandbox to
    load the entry, nothing more (no inputs, no inference). Raises EntryRejected, with the
    fix, when the file is refused statically or its loading fails; PlatformError when the
    sandbox cannot run. Code entries are not loaded here
    (importing submission.py runs the student's code: that is the graded run's job)."""
    spec = load_spec(lab_id)
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        entry_dir = Path(tmp) / "entry"
        info = unpack_entry(entry_path, spec, entry_dir)
        if info.kind not in LOAD_FIX:
            return info
        out_dir = Path(tmp) / "out"
        limits = _limits(spec)
        limits = SandboxLimits(
            wall_time_s=min(limits.wall_time_s, time_limit_s),
            memory_mb=limits.memory_mb,
            cpus=limits.cpus,
            gpu=False,  # loading needs no GPU; the check must not hold one
            output_mb=1,
        )
        job = Job(
            command=_command("check", spec, info),
            mounts={"entry": entry_dir},
            output_dir=out_dir,
            limits=limits,
            env=_job_env(spec, info),
            deny_paths=_deny_paths(default_hidden_dir(), private_paths),
        )
        run = get_backend(backend).run(job)
        name = PurePosixPath(info.main).name
        if run.exit_code == 0 or run.oom or run.timed_out:
            # Only a load that failed refuses: a slow or large model is the graded run's
            # to judge, with the lab's own limits.
            return info
        said = _harness_status(out_dir)
        if said.get("status") == "rejected" and run.exit_code == 3:
            raise EntryRejected(f"{name}: {said['reason']}")
        why = said.get("reason") or _last_error_line(run.log) or "no error message"
        why = head_and_last_line(why, 700)
        raise EntryRejected(
            f"{name} does not load in the grader's {FRAMEWORK[info.kind]} ({why}). "
            f"{LOAD_FIX[info.kind]}."
        )


def sandbox_time_budget_s(spec: LabSpec, splits: int = 1) -> float:
    """The most sandbox wall time one grading of this lab over `splits` splits may take: the
    lab's limit once per sandbox run (interactive labs play each split in its own session)."""
    sessions = splits if spec.task == "interactive" else 1
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


def _job_env(spec: LabSpec, info: EntryInfo) -> dict[str, str]:
    """What the harness is told besides its command: the task, how this entry kind
    receives image inputs (the spec's [input.layout]), and whether the lab wants class
    activation maps (the spec's [cam]: the harness writes cams.npy where it can)."""
    env = {"GRADER_TASK": spec.task, "GRADER_INPUT_LAYOUT": spec.input.layout(info.kind)}
    if spec.cam is not None:
        env["GRADER_CAMS"] = "1"
    return env


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
    if run.output_error:
        # The backend refused the output folder (too deep, too many files, too big...).
        return Report(status="invalid_output", reason=run.output_error, logs=run.log)
    return None


def _harness_status(out_dir: Path) -> dict[str, str]:
    """What the harness said about the run; untrusted, so only short strings are kept."""
    try:
        raw = read_json(out_dir / "harness.json", 65536)
    except (OSError, OutputsRefused):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {k: str(raw.get(k, ""))[:2000] for k in ("status", "reason")}


def _last_error_line(log: str) -> str:
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _batch_job(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    inputs_dir: Path,
    out_dir: Path,
    deny: tuple[Path, ...],
) -> Job:
    return Job(
        command=_command("batch", spec, info),
        mounts={"entry": entry_dir, "inputs": inputs_dir},
        output_dir=out_dir,
        limits=_limits(spec),
        env=_job_env(spec, info),
        deny_paths=deny,
    )


def _run_failed(spec: LabSpec, run: RunResult, out_dir: Path) -> Report | None:
    """The report for a batch run that did not finish cleanly, or None when it did."""
    stopped = _ended_badly(spec, run)
    if stopped is not None:
        return stopped
    said = _harness_status(out_dir)
    if run.exit_code != 0:
        if said.get("status") == "rejected" and run.exit_code == 3:
            return Report(status="rejected", reason=said["reason"], logs=run.log)
        why = said.get("reason") or _last_error_line(run.log) or "no error message"
        code = run.exit_code if run.exit_code is not None else "?"
        if isinstance(code, int) and code < 0:
            why = f"killed by signal {-code}; {why}"
        return Report(status="failed", reason=f"your entry crashed: {why}", logs=run.log)
    return None


def split_inputs(spec: LabSpec, dataset: Dataset, splits: tuple[str, ...], tmp: Path) -> Path:
    """The inputs folder the sandbox is given: the set's own when every split is graded,
    else a copy holding only the rows of `splits` (the other rows never enter the sandbox)."""
    if splits == tuple(SPLITS):
        return dataset.inputs_dir
    rows = split_rows(load_labels(dataset)["split"], splits)
    folder = tmp / "inputs"
    shutil.copytree(dataset.inputs_dir, folder)
    main = folder / INPUT_NAMES[spec.task]
    try:
        whole = np.load(main, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise PlatformError(f"{dataset.name}: {main.name} is unreadable: {exc}") from exc
    main.unlink()
    np.save(main, whole[rows], allow_pickle=False)
    return folder


def _grade_batch(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    dataset: Dataset,
    splits: tuple[str, ...],
    backend: Backend,
    deny: tuple[Path, ...],
    events: _Events,
    tmp: Path,
) -> tuple[Report, RunResult]:
    out_dir = tmp / "out"
    inputs_dir = split_inputs(spec, dataset, splits, tmp)
    job = _batch_job(spec, info, entry_dir, inputs_dir, out_dir, deny)
    events.emit("running", backend=backend.name, entry_kind=info.kind)
    run = backend.run(job, on_tick=events.tick)
    failed = _run_failed(spec, run, out_dir)
    if failed is not None:
        return failed, run
    events.emit("scoring")
    try:
        scores = _score_outputs(
            spec, lambda: score_classification(spec, dataset, out_dir, splits, info.kind)
        )
    except _OutputsFault as fault:
        return Report(status="invalid_output", reason=fault.reason, logs=run.log), run
    return _scored(scores, run.log), run


class _OutputsFault(Exception):
    """The entry's outputs could not be handled: its own fault (invalid_output), never a
    refunded platform fault, so that hostile outputs buy no free runs."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _score_outputs(spec: LabSpec, action: Callable[[], _T]) -> _T:
    """Run `action` over the entry's outputs; what it raises, bar a platform fault or a
    cancel, becomes _OutputsFault."""
    try:
        return action()
    except OutputsRefused as exc:
        raise _OutputsFault(str(exc)) from exc
    except GraderError:
        raise  # a platform fault or a cancel: not the outputs' doing
    except Exception as exc:  # noqa: BLE001 - a memory error, a numeric edge case...
        log.exception("scoring outputs of a %s entry", spec.id)
        raise _OutputsFault(
            f"your entry's outputs could not be scored ({type(exc).__name__})"
        ) from exc


def _grade_next_char(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    dataset: Dataset,
    splits: tuple[str, ...],
    backend: Backend,
    deny: tuple[Path, ...],
    events: _Events,
    tmp: Path,
) -> tuple[Report, RunResult]:
    """Step the scored rows of `splits` through the entry in one sandbox session
    (grader/stepwise.py) and score the tally. The sandbox gets the vocabulary, never the
    text: each character reaches it only once it has answered for it."""
    text = load_text_rows(dataset, splits)
    inputs = tmp / "inputs"
    inputs.mkdir()
    (inputs / "vocab.json").write_text(json.dumps(text.vocab), encoding="utf-8")
    events.emit("running", backend=backend.name, entry_kind=info.kind)

    def drive(session: Session) -> np.ndarray:
        startup = spec.limits.wall_time_s
        vocab_size = len(text.vocab)
        return step_rows(session, text.tokens, text.targets, vocab_size, events.tick, startup)

    bits, failed, run = _session(
        spec, info, entry_dir, backend, deny, "stepwise", {"inputs": inputs}, drive, "model"
    )
    if failed is not None:
        return failed, run
    assert bits is not None  # drive returned
    events.emit("scoring")
    try:
        scores = _score_outputs(
            spec,
            lambda: score_next_char(spec, text, bits, entry_dir, info, events.tick, splits),
        )
    except _OutputsFault as fault:
        return Report(status="invalid_output", reason=fault.reason, logs=run.log), run
    scores.details["stepped"] = {"rows": len(text.split), "characters": text.tokens.size}
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
    """One sandbox session per graded split, each fresh, the public one first.

    The policy is told its rewards, so anything it prints (or how it ends) in private episodes
    can carry the private score. The platform therefore grades the private split in a run of
    its own after the author's window (only that split's seeds: the report is that session).
    Graded together (staff, the CLI), the private session starts only after the public one
    has ended and its log has been read, shares nothing with it, and everything about it goes
    into `Report.private_session`; if it fails, the run is still "scored" on the public split
    (with no private metrics), so the status never depends on private episodes."""
    events.emit("running", backend=backend.name, entry_kind=info.kind)
    first, *later = seeds
    episodes, failed, run = _play_session(
        spec, info, entry_dir, seeds[first], backend, deny, events
    )
    if failed is not None:
        return failed, run
    played = {first: episodes}
    private_part: PrivateSession | None = None
    for split in later:
        episodes, private_failed, private_run = _play_session(
            spec, info, entry_dir, seeds[split], backend, deny, events
        )
        if private_run is None:
            continue  # the set has no episodes of this split
        private_part = PrivateSession(
            status=private_failed.status if private_failed else "scored",
            reason=private_failed.reason if private_failed else "",
            logs=private_run.log,
            wall_time_s=private_run.wall_time_s,
            peak_memory_mb=private_run.peak_memory_mb,
        )
        if private_failed is None:
            played[split] = episodes
    events.emit("scoring")
    from grader.metrics import return_stats

    names = set(spec.metric_names)

    def stats(returns: list[float]) -> dict[str, float]:
        return {k: v for k, v in return_stats(returns).values.items() if k in names}

    returns = {s: e.returns for s, e in played.items()}
    details: dict[str, Any] = {
        "returns": returns,
        "lengths": {s: e.lengths for s, e in played.items()},
    }
    # A failed private session leaves no whole-set score: the private standings list this
    # run as unscored.
    whole = private_part is None or private_part.status == "scored"
    scores = Scores(
        metrics=stats([r for e in played.values() for r in e.returns]) if whole else {},
        split_metrics={s: stats(r) for s, r in returns.items()},
        details=details,
    )
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
    env_spec = spec.environment
    if not seeds:
        return Episodes(), None, None

    def drive(session: Session) -> Episodes:
        startup = min(env_spec.startup_timeout_s, spec.limits.wall_time_s)
        return play(session, env_spec, seeds, events.tick, startup)

    episodes, failed, run = _session(
        spec, info, entry_dir, backend, deny, "interactive", {}, drive, "policy"
    )
    return episodes or Episodes(), failed, run


def _session(
    spec: LabSpec,
    info: EntryInfo,
    entry_dir: Path,
    backend: Backend,
    deny: tuple[Path, ...],
    mode: str,
    mounts: dict[str, Path],
    drive: Callable[[Session], _T],
    who: str,
) -> tuple[_T | None, Report | None, RunResult]:
    """One sandbox session of the harness in `mode`, driven by `drive` (which raises
    PolicyFault or SessionClosed when the entry misbehaves): what it returned, or the report
    of how the entry failed, and how the sandbox ended."""
    with tempfile.TemporaryDirectory(prefix="grader-out-") as out:
        job = Job(
            command=_command(mode, spec, info),
            mounts={"entry": entry_dir, **mounts},
            output_dir=Path(out),
            limits=_limits(spec),
            env=_job_env(spec, info),
            deny_paths=deny,
        )
        session = backend.start_session(job)
        fault: PolicyFault | None = None
        result: _T | None = None
        try:
            result = drive(session)
        except PolicyFault as exc:
            fault = exc
        except SessionClosed:
            fault = PolicyFault("failed", "")
        finally:
            run = session.close()
    stopped = _ended_badly(spec, run)
    if stopped is not None:
        return None, stopped, run
    if fault is not None:
        reason = fault.reason or (
            f"your {who} exited unexpectedly (exit code {run.exit_code}): "
            f"{_last_error_line(run.log) or 'no error message'}"
        )
        return None, Report(status=fault.status, reason=reason, logs=run.log), run
    return result, None, run


def _attach_return_intervals(
    spec: LabSpec, scores: Scores, returns: dict[str, list[float]]
) -> None:
    from grader import intervals as I
    from grader.scoring import attach_intervals

    names = set(spec.metric_names)
    seed = I.seed_of(spec.id, repr(returns))
    attach_intervals(
        scores.details,
        {s: I.return_intervals(r, names, seed + SPLITS[s]) for s, r in returns.items()},
    )
