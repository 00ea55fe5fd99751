"""A lab made with `lab new` and a set made with `dataset build`, zipped as staff upload it."""

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np

from grader.cli import main
from grader.specs import REPO_DIR

LAB = "lab9-digits"
# Reads the label the set hides in the first pixel: accuracy 1.0 on any set digits_npz makes.
PERFECT = (
    b"import numpy as np\n"
    b"def predict(x):\n"
    b"    return np.eye(10, dtype=np.float32)[np.rint(x[:, 0, 0, 0] * 10).astype(int)]\n"
)


def new_lab(specs: Path) -> None:
    shutil.copytree(REPO_DIR / "lab_specs", specs)
    assert main(["lab", "new", LAB, "--from", "lab2-mnist"]) == 0


def digits_npz(path: Path, n: int = 40) -> Path:
    rng = np.random.default_rng(n)
    x = rng.uniform(0, 1, (n, 28, 28, 1)).astype(np.float32)
    y = np.arange(n) % 10
    x[:, 0, 0, 0] = y / 10
    np.savez(path, x=x, y=y)
    return path


def build_bundle(work: Path, n: int = 40) -> bytes:
    """Build the lab's set with `dataset build` and zip it like the staff page says."""
    out = work / f"set-{n}" / f"{LAB}-v1"
    source = digits_npz(work / f"digits-{n}.npz", n)
    assert main(["dataset", "build", "--lab", LAB, str(source), "--out", str(out)]) == 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in sorted(out.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(out).as_posix())
    return buffer.getvalue()


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()
