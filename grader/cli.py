"""`python -m grader`: grade an entry (staff, tests, students on the public sample) or list labs."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from grader.datasets import (
    BuildOptions,
    SourceError,
    load_or_create_secret,
    new_seed,
    verify_set,
    write_spec_checksum,
)
from grader.errors import PlatformError
from grader.hidden import default_hidden_dir, expected_checksum
from grader.pipeline import GradeRequest, grade
from grader.report import Report
from grader.specs import load_all_specs, load_spec, specs_dir

SAMPLE_NOTE = (
    "checked against the PUBLIC SAMPLE set: these are not your scores on the hidden test "
    "set, which only the platform grades"
)


def _human(report: Report, lab_id: str) -> str:
    spec = load_spec(lab_id)
    lines = [f"{spec.title}: {report.status.upper()}"]
    if report.receipt and report.receipt.dataset_name.startswith("samples/"):
        lines.append(f"  NOTE: {SAMPLE_NOTE}")
    if report.reason:
        lines.append(f"  {report.reason}")
    for m in spec.metrics:
        unit = f" {m.unit}" if m.unit and m.unit != "fraction" else ""
        splits = ", ".join(
            f"{s} {vals[m.name]:.4g}" for s, vals in report.split_metrics.items() if m.name in vals
        )
        # A run whose private episodes failed has public scores but no whole-set one.
        if m.name in report.metrics or splits:
            whole = f"{report.metrics[m.name]:.4g}{unit}" if m.name in report.metrics else "-"
            better = "higher" if m.higher_is_better else "lower"
            lines.append(f"  {m.label:28s} {whole}  ({better} is better; {splits})")
    for name, why in report.details.get("undefined_metrics", {}).items():
        lines.append(f"  {name}: {why}")
    for note in report.details.get("notes", []):
        lines.append(f"  note: {note}")
    if report.receipt:
        r = report.receipt
        lines.append(
            f"  data {r.dataset_name} ({'verified' if r.dataset_verified else 'UNVERIFIED'}), "
            f"backend {r.backend} [{r.isolation}], {r.wall_time_s:.1f} s, {r.peak_memory_mb:.0f} MB"
        )
    if report.status != "scored" and report.logs:
        tail = report.logs.strip().splitlines()[-15:]
        lines.append("  last lines of the log:")
        lines.extend(f"    {ln}" for ln in tail)
    private = report.private_session
    if private is not None and private.status != "scored":
        # The site withholds this from students until the reveal; the CLI shows it all.
        lines.append(f"  private split: {private.status.upper()}: {private.reason}")
        tail = private.logs.strip().splitlines()[-15:]
        if tail:
            lines.append("  last lines of the private session's log:")
            lines.extend(f"    {ln}" for ln in tail)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("grade", help="grade one entry")
    g.add_argument("--lab", required=True, help="lab id (see `python -m grader labs`)")
    g.add_argument(
        "path", type=Path, help="the entry: a model file, submission.py, a .zip or a folder"
    )
    g.add_argument("--hidden-dir", type=Path, default=None)
    g.add_argument("--backend", choices=["process", "docker"], default="process")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.add_argument(
        "--sample",
        action="store_true",
        help="grade against the public sample set ($HIDDEN_DIR/samples/LAB)",
    )
    labs = sub.add_parser("labs", help="list the labs")
    labs.add_argument("--json", action="store_true")
    _add_dataset_commands(sub)
    _add_lab_commands(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unverified-data warning is in the report itself
        try:
            if args.command in ("dataset", "lab"):
                return _staff_command(args)
            if args.command == "labs":
                specs = load_all_specs()
                if args.json:
                    print(json.dumps([s.to_dict() for s in specs]))
                else:
                    for s in specs:
                        metrics = ", ".join(s.metric_names)
                        print(f"{s.id:15s} {s.title} [{s.task}; {metrics}]")
                return 0
            request = GradeRequest(
                lab_id=args.lab,
                entry_path=args.path,
                hidden_dir=args.hidden_dir,
                backend=args.backend,
                sample=args.sample,
            )
            report = grade(request)
        except SourceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except PlatformError as exc:
            if getattr(args, "json", False):
                print(json.dumps({"status": "error", "reason": str(exc), "metrics": {}}))
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        out = report.to_dict()
        if args.sample:
            out["note"] = SAMPLE_NOTE
        print(json.dumps(out, allow_nan=False))
    else:
        print(_human(report, args.lab))
    return 0 if report.scored else 1


def _add_dataset_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ds = sub.add_parser("dataset", help="build or verify a hidden set (docs/hidden-data.md)")
    dsub = ds.add_subparsers(dest="dataset_command", required=True)
    b = dsub.add_parser("build", help="build a set from your own files")
    b.add_argument("--lab", required=True)
    b.add_argument(
        "source",
        type=Path,
        nargs="?",
        help="a folder per label, a .csv (path,label[,group][,split]), a .npz, or a text "
        "file of ABC tunes; none for interactive labs",
    )
    b.add_argument("--out", type=Path, required=True, help="the set's folder (replaced whole)")
    b.add_argument("--vocab", type=Path, help="next-character: a JSON list of characters")
    b.add_argument("--seq-len", type=int, default=100, help="next-character: row length")
    b.add_argument("--public-episodes", type=int, default=0, help="interactive labs")
    b.add_argument("--private-episodes", type=int, default=0, help="interactive labs")
    b.add_argument(
        "--secret-file",
        type=Path,
        help="keep the split's secret seed in this file (created 0600 when missing) so a "
        "rebuild reproduces the set; by default a fresh secret is drawn and kept nowhere",
    )
    b.add_argument("--write-spec", action="store_true", help="put the checksum in the lab spec")
    v = dsub.add_parser("verify", help="check every file of a set against its manifest")
    v.add_argument("dir", type=Path)
    v.add_argument("--lab", help="also compare with this lab spec's checksum")


def _add_lab_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    lab = sub.add_parser("lab", help="scaffold or check lab specs")
    lsub = lab.add_subparsers(dest="lab_command", required=True)
    n = lsub.add_parser("new", help="a new lab spec copied from an existing lab")
    n.add_argument("new_id")
    n.add_argument("--from", dest="from_id", required=True)
    c = lsub.add_parser("check", help="validate every spec; grade reference entries on samples")
    c.add_argument("--hidden-dir", type=Path, default=None)
    c.add_argument(
        "--entries", type=Path, default=None, help="reference entries (default var/entries)"
    )


def _staff_command(args: argparse.Namespace) -> int:
    if args.command == "lab":
        return _lab_command(args)
    if args.dataset_command == "verify":
        checksum, problems = verify_set(args.dir)
        if args.lab and checksum is not None:
            try:
                expected = expected_checksum(load_spec(args.lab), args.dir.parent)
            except PlatformError as exc:
                expected = None
                problems.append(str(exc))
            if expected is not None and checksum != expected:
                problems.append(f"checksum {checksum} differs from lab {args.lab}'s {expected}")
        for problem in problems:
            print(f"MISMATCH {problem}", file=sys.stderr)
        if problems:
            return 1
        print(f"ok {args.dir} {checksum}")
        return 0
    spec = load_spec(args.lab)
    seed = load_or_create_secret(args.secret_file) if args.secret_file else new_seed()
    opts = BuildOptions(
        vocab=args.vocab,
        seq_len=args.seq_len,
        public_episodes=args.public_episodes,
        private_episodes=args.private_episodes,
    )
    from grader.datasets import build

    checksum = build(spec, args.source, args.out, seed, opts)
    print(f"{args.out} {checksum}")
    if args.out.name != spec.data.name:
        print(
            f"note: lab {spec.id} looks for its set in a folder named {spec.data.name} "
            "under the hidden directory",
            file=sys.stderr,
        )
    if args.write_spec:
        path = specs_dir() / f"{spec.id}.toml"
        write_spec_checksum(path, checksum)
        print(f"wrote the checksum into {path}")
    return 0


def _lab_command(args: argparse.Namespace) -> int:
    from grader.labs import check_labs, new_lab

    if args.lab_command == "new":
        path = new_lab(args.new_id, args.from_id)
        print(f"wrote {path}")
        return 0
    hidden = args.hidden_dir or default_hidden_dir()
    entries = args.entries or hidden.parent / "entries"
    failed = False
    for check in check_labs(hidden, entries):
        failed = failed or bool(check.problems)
        print(f"{check.lab}: {'FAILED' if check.problems else 'ok'}")
        for problem in check.problems:
            print(f"  problem: {problem}")
        for note in check.notes:
            print(f"  {note}")
    return 1 if failed else 0
