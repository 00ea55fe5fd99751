"""`python -m grader`: grade an entry (staff, tests, students on the public sample) or list labs."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from grader.errors import PlatformError
from grader.pipeline import GradeRequest, grade
from grader.report import Report
from grader.specs import load_all_specs, load_spec


def _human(report: Report, lab_id: str) -> str:
    spec = load_spec(lab_id)
    lines = [f"{spec.title}: {report.status.upper()}"]
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
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return 2 if exc.code else 0

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the unverified-data warning is in the report itself
        try:
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
        except PlatformError as exc:
            if getattr(args, "json", False):
                print(json.dumps({"status": "error", "reason": str(exc), "metrics": {}}))
            print(f"error: {exc}", file=sys.stderr)
            return 2
    if args.json:
        print(json.dumps(report.to_dict(), allow_nan=False))
    else:
        print(_human(report, args.lab))
    return 0 if report.scored else 1
