"""Entries that attack the worker through their outputs, shared by the process and Docker tests.

Each is the source of a code entry's submission.py (issue 15, items 2, 3 and 5).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

# 1,500 nested folders (deeper than Python's recursion limit) with a FIFO at the bottom, plus
# an unreadable folder, a FIFO, a Unix socket and a link to the host's root in the output
# folder itself. Made with fds, as an attacker would, so no path gets long.
NEST = """
import os, socket
def _nest(depth=1500):
    out = os.environ["SANDBOX_OUT"]
    fd = os.open(out, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir("d", dir_fd=fd)
        deeper = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    os.mkfifo("fifo", dir_fd=fd)
    os.close(fd)
    os.mkdir(os.path.join(out, "locked"))
    open(os.path.join(out, "locked", "f"), "w").close()
    os.chmod(os.path.join(out, "locked"), 0)
    os.mkfifo(os.path.join(out, "pipe"))
    socket.socket(socket.AF_UNIX).bind(os.path.join(out, "sock"))
    os.symlink("/", os.path.join(out, "root"))
_nest()
"""

NESTED_MNIST = (
    NEST
    + """
import numpy as np
def predict(x):
    return np.eye(10, dtype=np.float32)[(np.rint(x[:, 0, 0, 0] * 10)).astype(int)]
"""
)

NESTED_POLICY = NEST + "\ndef act(observation):\n    return 0\n"

# The harness status file replaced by 60,000 nested JSON lists (json.loads recurses), then a
# crash, so the worker reads it to explain the crash.
DEEP_JSON = """
import os
def predict(x):
    with open(os.path.join(os.environ["SANDBOX_OUT"], "harness.json"), "w") as f:
        f.write("[" * 60000)
    os._exit(1)
"""

# A 250 MiB boolean "probabilities" file (sparse: no disk or memory is used to make it),
# under a 256 MB output cap, then a clean exit before the harness writes its own.
BOOL_250MIB = """
import os
import numpy as np
def predict(images):
    path = os.path.join(os.environ["SANDBOX_OUT"], "probabilities.npy")
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|b1", "fortran_order": False, "shape": (250 * 2**20,)}
        )
        f.truncate(f.tell() + 250 * 2**20)
    os._exit(0)
"""

# An honest next-character model for the synthetic music set (next = token + 1 mod 6).
CAUSAL_MUSIC = """
import numpy as np
def step(chars):
    out = np.full((len(chars), 6), 0.1 / 5)
    out[np.arange(len(chars)), (chars + 1) % 6] = 0.9
    return np.log(out)
"""

GOOD_TUNE = "X:1\nT:good\nM:4/4\nL:1/8\nK:D\nABcd|efga|\n"
# 7 KB of bar lines: music21 spends minutes on it (over 60 s measured here), quadratically.
SLOW_TUNE = "X:2\nT:slow\nM:4/4\nL:1/8\nK:D\n" + "A|" * 3500 + "\n"


def leftovers(root: Path) -> list[str]:
    """What runs left in a private temporary folder: workspaces, output folders, and any
    container record still in the Docker backend's state folder (which may itself stay)."""
    names = [p.name for p in root.iterdir() if p.name != "labgrader-sandboxes"]
    state = root / "labgrader-sandboxes"
    if state.is_dir():
        names += [f"labgrader-sandboxes/{p.name}" for p in state.iterdir()]
    return sorted(names)


@contextlib.contextmanager
def private_tempdir() -> Iterator[Path]:
    """Point tempfile (hence every workspace) at a fresh folder that only this test uses.

    It lives directly in /tmp and is world-traversable, so the process sandbox's unprivileged
    user can enter the workspaces made in it."""
    path = Path(tempfile.mkdtemp(prefix="grader-outputs-test-", dir="/tmp"))  # noqa: S108
    os.chmod(path, 0o755)  # noqa: S103 - the sandbox user must enter the workspaces
    old = tempfile.tempdir
    tempfile.tempdir = str(path)
    try:
        yield path
    finally:
        tempfile.tempdir = old
        # Not grader.outputs: this must also clean up after the code before it.
        subprocess.run(["rm", "-rf", "--one-file-system", str(path)], check=False)
