"""Build the demo hidden data sets and reference entries once, and leave them be when they
are up to date.

`make demo`, the test suite and the bench all build through here, so a demo started beside
a test run (or two test runs) never rewrites the files under one another: a lock on var/
serialises the builders, and a stamp holding a hash of the builders' source tells an
up-to-date build, which is left as it is.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent
VAR = REPO / "var"
ENTRIES_DIR = VAR / "entries"
STAMP = ".build-stamp"
sys.path.insert(0, str(SCRIPTS))
from _common import DATASET_NAMES, default_hidden_dir  # noqa: E402


def _python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _source_hash(*names: str) -> str:
    h = hashlib.sha256()
    # The scripts build with grader.datasets' writers and draws.
    for path in [*(SCRIPTS / name for name in names), REPO / "grader" / "datasets.py"]:
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@contextmanager
def build_lock() -> Iterator[None]:
    """Held while anything is built or checked: one builder at a time in this checkout."""
    VAR.mkdir(exist_ok=True)
    with (VAR / ".build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _ensure(out: Path, digest: str, command: list[str], complete: list[Path]) -> None:
    """Run `command` unless `out` holds a complete build of this source."""
    stamp = out / STAMP
    with build_lock():
        fresh = stamp.exists() and stamp.read_text() == digest
        if fresh and all(p.exists() for p in complete):
            return
        if stamp.exists():
            stamp.unlink()  # a crash mid-build must not leave a valid-looking stamp
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        subprocess.run(command, check=True, cwd=REPO, env=env)
        stamp.write_text(digest)


def hidden_data(out: Path | None = None) -> Path:
    out = out or default_hidden_dir()
    labs = sorted(DATASET_NAMES)
    complete = [out / f"{lab}-v1" / "manifest.json" for lab in labs]
    complete += [out / "samples" / lab / "manifest.json" for lab in labs]
    command = [_python(), str(SCRIPTS / "build_demo_data.py"), "--out", str(out)]
    _ensure(out, _source_hash("_common.py", "build_demo_data.py"), command, complete)
    return out


def reference_entries(data: Path | None = None, out: Path = ENTRIES_DIR) -> Path:
    """The reference entries, trained on the sample data: they follow the data's version."""
    data = hidden_data(data)
    digest = _source_hash("_common.py", "build_demo_data.py", "make_reference_entries.py")
    command = [_python(), str(SCRIPTS / "make_reference_entries.py"), "--out", str(out)]
    command += ["--data", str(data)]
    _ensure(out, digest, command, [out / "index.json"])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="default: $GRADER_HIDDEN_DIR")
    args = parser.parse_args(argv)
    entries = reference_entries(args.data)  # builds (or checks) the data first
    data = args.data or default_hidden_dir()
    print(f"demo data in {data}, reference entries in {entries}: up to date")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
