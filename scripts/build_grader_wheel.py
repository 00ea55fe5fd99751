"""Build the grader's wheel (no Django) from this checkout, without touching the checkout.

    python scripts/build_grader_wheel.py [--out DIR]     # default: var/dist

The wheel holds the `grader` package with the lab specs, and the sandbox `harness`; install
it in a notebook with `pip install labgrader-0.1.0-py3-none-any.whl` (or straight from the
repository: `pip install "git+<repository URL>"`). The build runs in a scratch copy, so the
checkout gets no build/ or *.egg-info folders.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ("pyproject.toml", "README.md", "grader", "lab_specs", "sandboxes/harness")


def build_wheel(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    with tempfile.TemporaryDirectory(prefix="grader-wheel-") as tmp:
        src = Path(tmp) / "src"
        for part in PARTS:
            target = src / part
            target.parent.mkdir(parents=True, exist_ok=True)
            if (REPO / part).is_dir():
                shutil.copytree(REPO / part, target, ignore=ignore)
            else:
                shutil.copy2(REPO / part, target)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
        subprocess.run([*command, "-q", "-w", str(out), str(src)], check=True)
    wheels = sorted(out.glob("labgrader-*.whl"), key=lambda p: p.stat().st_mtime)
    return wheels[-1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "var" / "dist")
    print(build_wheel(parser.parse_args(argv).out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
