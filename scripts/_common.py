"""Helpers shared by the demo-data builder and the reference-entry maker.

Everything here writes bytes that depend only on the data, never on the clock or the
machine, so that the checksums recorded in lab_specs/*.toml stay valid.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CACHE_DIR = REPO / "var" / "cache"
SDIST_NAME = "mitdeeplearning-0.7.5.tar.gz"
SDIST_SHA256 = "56b1588e1574d17f3ff07a3d56e3b45f2f568f78a92855141f959f407084242b"
SDIST_ENV = "MITDEEPLEARNING_SDIST"

# Hidden set names (lab_specs/*.toml `[data] name`).
DATASET_NAMES: dict[str, str] = {
    "lab1-music": "lab1-music-v1",
    "lab2-mnist": "lab2-mnist-v1",
    "lab2-debias": "lab2-debias-v1",
    "lab3-cartpole": "lab3-cartpole-v1",
    "lab3-pong": "lab3-pong-v1",
}
FACE_GROUPS = ("LF", "LM", "DF", "DM")
MUSIC_T = 100
FACE_SIZE = 64

# Fixed timestamp for zip members: np.savez would stamp the current time.
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def default_hidden_dir() -> Path:
    return Path(os.environ.get("GRADER_HIDDEN_DIR", REPO / "var" / "hidden"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def save_npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(npy_bytes(array))


def save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Like np.savez, but byte-for-byte reproducible (fixed member order and timestamps)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for key in sorted(arrays):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            zf.writestr(info, npy_bytes(arrays[key]))
    path.write_bytes(buf.getvalue())


def save_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def set_files(set_dir: Path) -> dict[str, str]:
    """sha256 of every file under inputs/ and labels/, keyed by POSIX relpath."""
    files: dict[str, str] = {}
    for part in ("inputs", "labels"):
        root = set_dir / part
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            files[path.relative_to(set_dir).as_posix()] = sha256_file(path)
    return files


def checksum_of(files: dict[str, str]) -> str:
    lines = "".join(f"{rel} {digest}\n" for rel, digest in sorted(files.items()))
    return "sha256:" + hashlib.sha256(lines.encode("utf-8")).hexdigest()


def write_manifest(set_dir: Path, name: str, lab: str) -> str:
    files = set_files(set_dir)
    checksum = checksum_of(files)
    save_json(
        set_dir / "manifest.json",
        {"name": name, "lab": lab, "files": files, "checksum": checksum},
    )
    return checksum


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


def split_tunes(text: str) -> list[str]:
    """Tunes of irish.abc: blocks separated by blank lines, each starting with X:.

    Two tunes contain an inner blank line; the block after it belongs to the tune before.
    """
    tunes: list[str] = []
    for block in text.split("\n\n"):
        block = block.strip("\n")
        if not block:
            continue
        if block.startswith("X:") or not tunes:
            tunes.append(block)
        else:
            tunes[-1] += "\n\n" + block
    return tunes
