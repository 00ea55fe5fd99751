"""Tiny synthetic hidden sets in the docs/hidden-data.md layout, and matching spec copies.

The inputs encode their labels in a few pixels so that simple code entries can be perfect,
partly right or wrong on purpose, and the expected metrics can be computed by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GROUPS = ["LF", "LM", "DF", "DM"]
MUSIC_V = 6
MUSIC_T = 20


def _manifest(set_dir: Path, name: str, lab: str) -> str:
    files = {}
    for part in ("inputs", "labels"):
        for p in sorted((set_dir / part).rglob("*")):
            if p.is_file():
                files[p.relative_to(set_dir).as_posix()] = hashlib.sha256(
                    p.read_bytes()
                ).hexdigest()
    lines = "".join(f"{rel} {digest}\n" for rel, digest in sorted(files.items()))
    checksum = "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    manifest = {"name": name, "lab": lab, "files": files, "checksum": checksum}
    (set_dir / "manifest.json").write_text(json.dumps(manifest))
    return checksum


def _fresh(set_dir: Path) -> None:
    (set_dir / "inputs").mkdir(parents=True)
    (set_dir / "labels").mkdir(parents=True)


def build_mnist(set_dir: Path, n: int = 40, seed: int = 0) -> None:
    _fresh(set_dir)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    images = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    images[:, 0, 0, 0] = y / 10.0  # the label, readable by a "perfect" entry
    np.save(set_dir / "inputs" / "images.npy", images)
    split = (np.arange(n) % 2).astype(np.int8)
    np.savez(set_dir / "labels" / "labels.npz", y=y.astype(np.int64), split=split)


def build_debias(set_dir: Path) -> dict[str, np.ndarray]:
    """16 faces (4 per group, 2 public + 2 private each) and 8 non-faces."""
    _fresh(set_dir)
    group = np.array([g for g in GROUPS for _ in range(4)] + [""] * 8)
    y = (group != "").astype(np.int64)
    split = np.array([0, 0, 1, 1] * 4 + [0, 1] * 4, dtype=np.int8)
    images = np.zeros((len(y), 64, 64, 3), dtype=np.float32)
    images[:, 0, 0, 0] = y  # face or not
    images[:, 0, 0, 1] = [(GROUPS.index(g) + 1) / 4 if g else 0 for g in group]
    np.save(set_dir / "inputs" / "images.npy", images)
    labels = {"y": y, "group": group.astype("<U2"), "split": split}
    np.savez(set_dir / "labels" / "labels.npz", **labels)
    return labels


def build_music(set_dir: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows where the next token is always (token + 1) mod V, plus causality probes."""
    _fresh(set_dir)
    rng = np.random.default_rng(seed)
    n_real, n_probe = 8, 4
    starts = rng.integers(0, MUSIC_V, size=n_real)
    stream = (starts[:, None] + np.arange(MUSIC_T + 1)[None, :]) % MUSIC_V
    tokens, targets = stream[:, :-1], stream[:, 1:]
    orig = np.arange(n_probe)
    k = np.array([3, 7, 11, 15])
    pert = tokens[orig].copy()
    pert_targets = targets[orig].copy()
    for r, kk in enumerate(k):
        pert[r, kk + 1 :] = (pert[r, kk + 1 :] + 1 + r % (MUSIC_V - 1)) % MUSIC_V
        pert_targets[r, kk:-1] = pert[r, kk + 1 :]
    all_tokens = np.concatenate([tokens, pert]).astype(np.int32)
    labels = {
        "targets": np.concatenate([targets, pert_targets]).astype(np.int32),
        "real": np.arange(n_real + n_probe) < n_real,
        "split": np.array([0, 1] * (n_real // 2) + [0] * n_probe, dtype=np.int8),
        "probe_orig": orig.astype(np.int64),
        "probe_pert": (n_real + np.arange(n_probe)).astype(np.int64),
        "probe_k": k.astype(np.int64),
    }
    np.save(set_dir / "inputs" / "tokens.npy", all_tokens)
    (set_dir / "inputs" / "vocab.json").write_text(json.dumps(list("abcdef")))
    np.savez(set_dir / "labels" / "labels.npz", **labels)
    return labels


def build_seeds(set_dir: Path, public: list[int], private: list[int]) -> None:
    _fresh(set_dir)
    (set_dir / "labels" / "seeds.json").write_text(
        json.dumps({"public": public, "private": private})
    )


def build_all(hidden: Path) -> dict[str, str]:
    """Every lab's set under `hidden`; returns {lab id: checksum}."""
    sets = {
        "lab2-mnist": ("lab2-mnist-v1", lambda d: build_mnist(d)),
        "lab2-debias": ("lab2-debias-v1", build_debias),
        "lab1-music": ("lab1-music-v1", build_music),
        "lab3-cartpole": ("lab3-cartpole-v1", lambda d: build_seeds(d, [1, 2], [3, 4])),
        "lab3-pong": ("lab3-pong-v1", lambda d: build_seeds(d, [1], [2])),
    }
    checksums = {}
    for lab, (name, build) in sets.items():
        build(hidden / name)
        checksums[lab] = _manifest(hidden / name, name, lab)
    build_mnist(hidden / "samples" / "lab2-mnist", n=20, seed=1)
    _manifest(hidden / "samples" / "lab2-mnist", "lab2-mnist", "lab2-mnist")
    return checksums


def write_specs(dst: Path, checksums: dict[str, str] | None, **limits: float) -> Path:
    """Copies of lab_specs/*.toml with other checksums (None: keep) and changed [limits]."""
    dst.mkdir(parents=True, exist_ok=True)
    for src in sorted((REPO / "lab_specs").glob("*.toml")):
        text = src.read_text()
        if checksums is not None:
            text = re.sub(r'(?m)^checksum = ".*"$', f'checksum = "{checksums[src.stem]}"', text)
        for key, value in limits.items():
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        (dst / src.name).write_text(text)
    return dst


def write_entry(directory: Path, source: str, name: str = "submission.py", **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(source))
    for fname, content in files.items():
        (directory / fname.replace("__", ".")).write_text(content)
    return directory
