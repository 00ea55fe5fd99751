"""The sandbox image build needs nothing that the test or demo commands create later.

CI builds the image before `make test` makes `.venv`; a fresh machine has neither. The build
once called `.venv/bin/python` and passed only where the image had been built before.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_build_python_comes_from_no_project_venv(tmp_path):
    # A bare checkout: the script and what it hashes, no .venv, no var/.
    checkout = tmp_path / "checkout"
    (checkout / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts/build_sandbox_images.sh", checkout / "scripts")
    shutil.copytree(REPO / "sandboxes", checkout / "sandboxes")
    venv_bin = str(REPO / ".venv" / "bin")
    path = ":".join(p for p in os.environ["PATH"].split(":") if p != venv_bin)
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root")}
    done = subprocess.run(
        ["bash", "scripts/build_sandbox_images.sh", "--python"],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    python = Path(done.stdout.strip().splitlines()[-1])
    assert python.is_relative_to(checkout / "var" / "sandbox-build")
    assert not (checkout / ".venv").exists()
    version = subprocess.run(
        [str(python), "-m", "pip", "--version"], capture_output=True, text=True, check=True
    )
    assert "python 3.11" in version.stdout
