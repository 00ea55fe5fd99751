"""`python -m bench [--quick] [--only SECTION ...]`: run the suite and print every figure."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .report import Report
from .stack import REPO, BenchEnv, Stack, drop_database, reset_database, setup_django

SECTIONS = ("overhead", "rush", "embedded", "leaderboard", "faults", "gpu", "lab1", "course")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a tiny version of every measurement")
    p.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    p.add_argument(
        "--stack",
        choices=("production", "embedded"),
        default="production",
        help="PostgreSQL and Redis, or what `make demo` runs on (SQLite, the filesystem "
        "broker; only the rush): the `embedded` section runs this in a child process",
    )
    p.add_argument("--db", default="bench", help="PostgreSQL database to (re)create")
    p.add_argument(
        "--keep-db",
        action="store_true",
        help="leave the database (--stack embedded: the run's folder) for inspection",
    )
    p.add_argument("--seed", type=int, default=191, help="seed of every random choice")
    p.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "latest.json")
    p.add_argument("--rush-uploads", type=int, help="default 1000 (--quick: 20)")
    p.add_argument("--rush-clients", type=int, help="default 50 (--quick: 5)")
    p.add_argument("--rush-workers", type=int, default=2, help="grading workers for the rush")
    p.add_argument("--open-rate", type=float, help="open-loop uploads/s (default 20; --quick: 5)")
    p.add_argument("--open-seconds", type=float, help="open-loop length (default 60; --quick: 4)")
    p.add_argument("--rush-drain-s", type=float, default=600, help="bound on the drain wait")
    p.add_argument("--leaderboard-entries", type=int, help="default 100000 (--quick: 1000)")
    p.add_argument("--fault-runs", type=int, help="default 100 (--quick: 6)")
    p.add_argument(
        "--course-participation",
        type=float,
        help="share of the students entering each lab in the course rehearsal (default 0.3)",
    )
    return p.parse_args(argv)


def machine() -> dict:
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kib / 2**20, 1),
        "gpu": bool(shutil.which("nvidia-smi")),
        "load_1_5_15": [round(x, 2) for x in os.getloadavg()],
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    embedded = args.stack == "embedded"
    sections = ["rush"] if embedded else (args.only or list(SECTIONS))
    began = time.monotonic()
    before = machine()
    print(f"bench: {before['cpus']} CPUs, {before['memory_gib']} GiB; {before['uptime']}")
    report = Report(prefix="embedded." if embedded else "")
    root = Path(tempfile.mkdtemp(prefix="labgrader-bench-"))
    # The process sandbox drops to `nobody`, which must be able to enter its workspace here.
    os.chmod(root, 0o755)  # noqa: S103
    (root / "tmp").mkdir(mode=0o777)
    os.chmod(root / "tmp", 0o1777)  # noqa: S103 - a /tmp of our own, sticky like /tmp
    env = BenchEnv(root=root, db_name=args.db, hidden_dir=REPO / "var" / "hidden")
    if embedded:
        env.embedded, env.broker_url = True, "filesystem://"
    stack = Stack(env)
    failed: list[str] = []
    try:
        from .data import create_course, create_students, ensure_demo_data

        ensure_demo_data(env.hidden_dir)
        if not embedded:
            reset_database(args.db)
        setup_django(env)
        if not embedded:
            stack.start_redis()
        edition = create_course()
        students = create_students(edition, 50)
        for name in sections:
            try:
                run_section(name, stack, report, args, edition, students)
            except Exception:  # noqa: BLE001 - report it, run the other sections
                failed.append(name)
                traceback.print_exc()
                report.note(f"section {name} failed; see the traceback above")
            finally:
                stack.stop_workers()
    finally:
        try:
            stack.close()
        finally:
            if not args.keep_db and not embedded:
                _close_connections()
                drop_database(args.db)
            if args.keep_db:
                print(f"bench: kept the run's folder (logs; SQLite when embedded): {root}")
            else:
                shutil.rmtree(root, ignore_errors=True)
    after = machine()
    summary = {"before": before, "after": after, "sections": sections, "failed": failed}
    summary["wall_s"] = round(time.monotonic() - began, 1)
    report.save(args.out, summary)
    print(f"\nbench: done in {summary['wall_s']} s; load before {before['load_1_5_15']}, after")
    print(f"bench: {after['load_1_5_15']}; figures saved to {args.out}")
    if failed:
        print(f"bench: FAILED sections: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _close_connections() -> None:
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001,S110 - Django may not be set up yet
        pass


def run_section(name: str, stack: Stack, report: Report, args, edition, students) -> None:
    if name == "overhead":
        from . import overhead

        if stack.site is None:
            stack.start_site()
        stack.start_worker()
        overhead.run(stack, report, students[0][1], args.quick)
        stack.stop_workers()
        why = overhead.docker_unavailable()
        if why is not None:
            report.missing("overhead.docker", f"not available: {why}")
            return
        state = stack.env.root / "docker-state"
        state.mkdir(exist_ok=True)
        docker_env = {"GRADER_BACKEND": "docker", "GRADER_DOCKER_STATE_DIR": str(state)}
        try:
            stack.start_worker(extra_env=docker_env)
            overhead.run(stack, report, students[0][1], args.quick, backend="docker")
        except Exception as exc:  # noqa: BLE001 - the Docker Engine here is shared and may go
            traceback.print_exc()
            why = f"{type(exc).__name__}: {exc}"[:300]
            report.missing("overhead.docker", f"not available: docker failed mid-run ({why})")
    elif name == "rush":
        from . import rush

        if stack.site is None:
            stack.start_site()
        rush.run(stack, report, students, args)
        rush.run_open_loop(stack, report, students, args)
    elif name == "embedded":
        run_embedded(report, args)
    elif name == "leaderboard":
        from . import leaderboard

        if stack.site is None:
            stack.start_site()
        leaderboard.run(stack, report, edition, args, students[0][1])
    elif name == "faults":
        from . import faults

        faults.run(stack, report, students[0][0], args)
    elif name == "gpu":
        from . import gpu

        gpu.run(report, args.quick)
    elif name == "lab1":
        from . import stepwise

        stepwise.run(report, args.quick)
    elif name == "course":
        from . import course

        course.run(stack, report, args)


def run_embedded(report: Report, args) -> None:
    """The same rush on the embedded default (SQLite, the filesystem broker): a child
    process, since this one's Django is set up for PostgreSQL. Its figures join ours."""
    print("\n== The rush again, on the embedded default (SQLite, filesystem broker)", flush=True)
    with tempfile.TemporaryDirectory(prefix="labgrader-bench-embedded-") as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-m", "bench", "--stack", "embedded", "--out", str(out)]
        command += ["--seed", str(args.seed), "--rush-workers", str(args.rush_workers)]
        command += ["--rush-drain-s", str(args.rush_drain_s)]
        for flag, value in (
            ("--rush-uploads", args.rush_uploads),
            ("--rush-clients", args.rush_clients),
            ("--open-rate", args.open_rate),
            ("--open-seconds", args.open_seconds),
        ):
            if value is not None:
                command += [flag, str(value)]
        if args.quick:
            command.append("--quick")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
        # Its FIGURE lines go straight to our output; its saved figures join our report.
        done = subprocess.run(command, cwd=REPO, env=env, check=False)
        if out.exists():
            report.merge(out)
        if done.returncode != 0:
            raise RuntimeError(f"the embedded rush failed (exit {done.returncode})")
