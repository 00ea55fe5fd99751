"""The demo hidden sets follow docs/hidden-data.md, are reproducible and leak nothing."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
PYTHON = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable
LABS = ("lab1-music", "lab2-debias", "lab2-mnist", "lab3-cartpole", "lab3-pong")

SETS = [f"{lab}-v1" for lab in LABS] + [f"samples/{lab}" for lab in LABS]

# What inputs/ may hold, per lab: the only files a sandbox ever sees.
INPUT_FILES = {
    "lab1-music": {"inputs/tokens.npy", "inputs/vocab.json"},
    "lab2-debias": {"inputs/images.npy"},
    "lab2-mnist": {"inputs/images.npy"},
    "lab3-cartpole": set(),
    "lab3-pong": set(),
}
LABEL_FILES = {
    "lab1-music": {"labels/labels.npz"},
    "lab2-debias": {"labels/labels.npz"},
    "lab2-mnist": {"labels/labels.npz"},
    "lab3-cartpole": {"labels/seeds.json"},
    "lab3-pong": {"labels/seeds.json"},
}


def lab_of(rel: str) -> str:
    return rel.split("/")[-1].removesuffix("-v1")


def recomputed_checksum(set_dir: Path) -> tuple[dict[str, str], str]:
    files = {
        p.relative_to(set_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for part in ("inputs", "labels")
        for p in (set_dir / part).rglob("*")
        if p.is_file()
    }
    lines = "".join(f"{rel} {files[rel]}\n" for rel in sorted(files))
    return files, "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def checksums(root: Path) -> dict[str, str]:
    return {rel: json.loads((root / rel / "manifest.json").read_text())["checksum"] for rel in SETS}


@pytest.mark.parametrize("rel", SETS)
def test_manifest_matches_files(hidden_dir: Path, rel: str) -> None:
    manifest = json.loads((hidden_dir / rel / "manifest.json").read_text())
    files, checksum = recomputed_checksum(hidden_dir / rel)
    assert manifest["lab"] == lab_of(rel)
    assert manifest["name"] == rel.split("/")[-1]
    assert manifest["files"] == files
    assert manifest["checksum"] == checksum


@pytest.mark.parametrize("rel", SETS)
def test_inputs_hold_only_the_documented_files(hidden_dir: Path, rel: str) -> None:
    files, _ = recomputed_checksum(hidden_dir / rel)
    lab = lab_of(rel)
    assert {f for f in files if f.startswith("inputs/")} == INPUT_FILES[lab]
    assert {f for f in files if f.startswith("labels/")} == LABEL_FILES[lab]
    assert (hidden_dir / rel / "inputs").is_dir()  # present (maybe empty) for every lab


def test_builder_is_deterministic_and_idempotent(hidden_dir: Path, tmp_path: Path) -> None:
    command = [PYTHON, str(SCRIPTS / "build_demo_data.py"), "--out", str(tmp_path)]
    first = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    again = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert first == again
    assert checksums(tmp_path) == checksums(hidden_dir)
    for rel, checksum in checksums(tmp_path).items():
        assert f"{rel} " in first and checksum in first


def test_lab_specs_record_the_built_checksums(hidden_dir: Path) -> None:
    specs = sorted((REPO / "lab_specs").glob("*.toml"))
    if not specs:
        pytest.skip("no lab specs yet")
    for spec_path in specs:
        spec = tomllib.loads(spec_path.read_text())
        manifest = json.loads((hidden_dir / spec["data"]["name"] / "manifest.json").read_text())
        assert spec["data"]["checksum"] == manifest["checksum"], spec_path.name


def load_labels(set_dir: Path) -> dict[str, np.ndarray]:
    with np.load(set_dir / "labels/labels.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def check_split(split: np.ndarray) -> None:
    assert split.dtype == np.int8
    assert set(np.unique(split)) == {0, 1}


@pytest.mark.parametrize("rel", ["lab2-mnist-v1", "samples/lab2-mnist"])
def test_mnist_shapes(hidden_dir: Path, rel: str) -> None:
    images = np.load(hidden_dir / rel / "inputs/images.npy", allow_pickle=False)
    labels = load_labels(hidden_dir / rel)
    assert images.dtype == np.float32 and images.shape[1:] == (28, 28, 1)
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(labels) == {"y", "split"}
    assert labels["y"].dtype == np.int64 and labels["y"].shape == (len(images),)
    assert set(np.unique(labels["y"])) == set(range(10))
    check_split(labels["split"])
    if rel == "lab2-mnist-v1":
        assert len(images) == 500


@pytest.mark.parametrize("rel", ["lab2-debias-v1", "samples/lab2-debias"])
def test_debias_shapes(hidden_dir: Path, rel: str) -> None:
    images = np.load(hidden_dir / rel / "inputs/images.npy", allow_pickle=False)
    labels = load_labels(hidden_dir / rel)
    assert images.dtype == np.float32 and images.shape[1:] == (64, 64, 3)
    assert 0.0 <= images.min() and images.max() <= 1.0
    assert set(labels) == {"y", "group", "split"}
    y, group, split = labels["y"], labels["group"], labels["split"]
    assert y.dtype == np.int64 and group.dtype.kind == "U" and len(y) == len(group) == len(images)
    assert set(group[y == 0]) == {""}
    faces_per_group = 4 if rel == "lab2-debias-v1" else 1
    for g in ("LF", "LM", "DF", "DM"):
        in_group = group == g
        assert in_group.sum() == faces_per_group and (y[in_group] == 1).all()
        if faces_per_group > 1:  # public/private balanced inside every group
            assert (split[in_group] == 0).sum() == faces_per_group // 2
    check_split(split)


@pytest.mark.parametrize("rel", ["lab1-music-v1", "samples/lab1-music"])
def test_music_rows_and_probes(hidden_dir: Path, rel: str) -> None:
    tokens = np.load(hidden_dir / rel / "inputs/tokens.npy", allow_pickle=False)
    vocab = json.loads((hidden_dir / rel / "inputs/vocab.json").read_text())
    labels = load_labels(hidden_dir / rel)
    assert tokens.dtype == np.int32 and tokens.ndim == 2 and tokens.shape[1] == 100
    assert len(vocab) == 83 and vocab == sorted(vocab)
    assert 0 <= tokens.min() and tokens.max() < len(vocab)
    targets, real = labels["targets"], labels["real"]
    assert targets.dtype == np.int32 and targets.shape == tokens.shape
    assert real.dtype == np.bool_ and real.shape == (len(tokens),)
    # Real rows are windows of text: each target is the next row position's token.
    assert (targets[real, :-1] == tokens[real, 1:]).all()
    check_split(labels["split"][real])
    orig, pert, k = labels["probe_orig"], labels["probe_pert"], labels["probe_k"]
    assert len(orig) == len(pert) == len(k) > 0
    assert real[orig].all() and not real[pert].any()
    for o, p, kk in zip(orig, pert, k, strict=True):
        assert (tokens[o, : kk + 1] == tokens[p, : kk + 1]).all()
        assert (tokens[o, kk + 1 :] != tokens[p, kk + 1 :]).all()
    # Probes are shuffled in, not appended, or a model could tell them by their position.
    assert sorted(pert) != list(range(len(tokens) - len(pert), len(tokens)))


@pytest.mark.parametrize("lab", ["lab3-cartpole", "lab3-pong"])
def test_rl_seeds(hidden_dir: Path, lab: str) -> None:
    hidden = json.loads((hidden_dir / f"{lab}-v1/labels/seeds.json").read_text())
    sample = json.loads((hidden_dir / f"samples/{lab}/labels/seeds.json").read_text())
    for seeds in (hidden, sample):
        assert set(seeds) == {"public", "private"}
        assert seeds["public"] and seeds["private"]
        assert all(
            isinstance(s, int) and 0 <= s < 2**31 for s in seeds["public"] + seeds["private"]
        )
    assert not set(hidden["public"] + hidden["private"]) & set(sample["public"] + sample["private"])


def image_hashes(images: np.ndarray) -> set[bytes]:
    return {hashlib.sha256(img.tobytes()).digest() for img in images}


def test_image_sets_are_disjoint(hidden_dir: Path) -> None:
    for lab in ("lab2-debias", "lab2-mnist"):
        hidden = np.load(hidden_dir / f"{lab}-v1/inputs/images.npy")
        sample = np.load(hidden_dir / f"samples/{lab}/inputs/images.npy")
        assert not image_hashes(hidden) & image_hashes(sample), lab
    train = np.load(hidden_dir / "samples/lab2-mnist/train.npz")["x"]
    assert not image_hashes(train) & image_hashes(
        np.load(hidden_dir / "lab2-mnist-v1/inputs/images.npy")
    )


def test_hidden_tunes_are_not_public(hidden_dir: Path) -> None:
    vocab = json.loads((hidden_dir / "lab1-music-v1/inputs/vocab.json").read_text())
    tokens = np.load(hidden_dir / "lab1-music-v1/inputs/tokens.npy")
    real = load_labels(hidden_dir / "lab1-music-v1")["real"]
    samples = hidden_dir / "samples/lab1-music"
    public = (samples / "train.abc").read_text() + (samples / "sample.abc").read_text()
    hidden_text = ["".join(vocab[t] for t in row) for row in tokens[real]]
    assert not [row for row in hidden_text if row in public]
