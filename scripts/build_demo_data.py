"""Build the demo hidden sets and the public sample sets (layout: docs/hidden-data.md).

Sources: the mitdeeplearning 0.7.5 sdist (Irish tunes, 20 test faces), scikit-learn's
sample photos and digits, and fixed seeds for the gymnasium labs. The output is
deterministic: the same bytes on every run, so the printed checksums go into
lab_specs/*.toml.

    python scripts/build_demo_data.py [--out DIR] [--sdist PATH] [--only LAB ...]
"""

from __future__ import annotations

import argparse
import io
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DATASET_NAMES,
    FACE_GROUPS,
    FACE_SIZE,
    MUSIC_T,
    default_hidden_dir,
    read_sdist_members,
    save_json,
    save_npy,
    save_npz,
    sdist_path,
    split_tunes,
    write_manifest,
)

Built = list[tuple[str, str]]  # (set path relative to --out, checksum)


def fresh_set(out: Path, rel: str) -> Path:
    """An empty set folder with inputs/ and labels/ (rebuilt from scratch: idempotent)."""
    set_dir = out / rel
    if set_dir.exists():
        shutil.rmtree(set_dir)
    (set_dir / "inputs").mkdir(parents=True)
    (set_dir / "labels").mkdir()
    return set_dir


def balanced_split(n: int, rng: np.random.Generator) -> np.ndarray:
    """0 = public, 1 = private, half each (the extra one private), in random order."""
    split = np.zeros(n, dtype=np.int8)
    split[n // 2 :] = 1
    return split[rng.permutation(n)]


# ---------------------------------------------------------------------------- faces


def load_faces(sdist: Path) -> dict[str, list[np.ndarray]]:
    """The 20 test faces as float32 [64,64,3] in [0,1], per group, sorted by file number."""
    members = read_sdist_members(sdist, "data/faces")
    faces: dict[str, list[np.ndarray]] = {}
    for group in FACE_GROUPS:
        names = sorted(
            (n for n in members if n.startswith(group + "/") and n.endswith(".png")),
            key=lambda n: int(Path(n).stem),
        )
        faces[group] = [to_square_image(Image.open(io.BytesIO(members[n]))) for n in names]
    return faces


def to_square_image(img: Image.Image) -> np.ndarray:
    img = img.convert("RGB").resize((FACE_SIZE, FACE_SIZE), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float32) / np.float32(255.0)


def sample_photos() -> list[np.ndarray]:
    """scikit-learn's china.jpg and flower.jpg as uint8 [427,640,3], in that order."""
    from sklearn.datasets import load_sample_image

    return [load_sample_image(name) for name in ("china.jpg", "flower.jpg")]


def photo_crops(
    photo: np.ndarray, n: int, x_range: tuple[int, int], rng: np.random.Generator
) -> list[np.ndarray]:
    """n square crops of random size inside columns x_range, resized to 64x64.

    The hidden set takes the left half of each photo and the public samples (and the
    baseline's training crops) the right half, so the two can never share a crop.
    """
    height = photo.shape[0]
    crops = []
    for _ in range(n):
        size = int(rng.integers(48, 200))
        x0 = int(rng.integers(x_range[0], x_range[1] - size + 1))
        y0 = int(rng.integers(0, height - size + 1))
        patch = Image.fromarray(photo[y0 : y0 + size, x0 : x0 + size])
        crops.append(to_square_image(patch))
    return crops


def write_classification_set(
    set_dir: Path, images: np.ndarray, labels: dict[str, np.ndarray], rng: np.random.Generator
) -> None:
    order = rng.permutation(len(images))  # mix faces and non-faces
    save_npy(set_dir / "inputs" / "images.npy", images[order].astype(np.float32))
    save_npz(set_dir / "labels" / "labels.npz", {k: v[order] for k, v in labels.items()})


def build_debias(out: Path, sdist: Path) -> Built:
    faces = load_faces(sdist)
    photos = sample_photos()
    width = photos[0].shape[1]
    built: Built = []
    for rel, face_slice, n_crops, x_range, seed in (
        (f"{DATASET_NAMES['lab2-debias']}", slice(1, None), 24, (0, width // 2), 201),
        ("samples/lab2-debias", slice(0, 1), 8, (width // 2, width), 202),
    ):
        rng = np.random.default_rng(seed)
        images: list[np.ndarray] = []
        y: list[int] = []
        group: list[str] = []
        split: list[np.ndarray] = []
        for g in FACE_GROUPS:
            chosen = faces[g][face_slice]
            images += chosen
            y += [1] * len(chosen)
            group += [g] * len(chosen)
            split.append(balanced_split(len(chosen), rng))
        for photo in photos:
            crops = photo_crops(photo, n_crops, x_range, rng)
            images += crops
            y += [0] * len(crops)
            group += [""] * len(crops)
            split.append(balanced_split(len(crops), rng))
        set_dir = fresh_set(out, rel)
        labels = {
            "y": np.array(y, dtype=np.int64),
            "group": np.array(group, dtype="<U2"),
            "split": np.concatenate(split).astype(np.int8),
        }
        write_classification_set(set_dir, np.stack(images), labels, rng)
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], "lab2-debias")))
    return built


# ---------------------------------------------------------------------------- digits

MNIST_HIDDEN = 500
MNIST_SAMPLE = 297  # the remaining 1000 digits are training data (samples/lab2-mnist/train.npz)


def digits_28() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn digits as MNIST-like float32 [N,28,28,1]: 20x20 glyph in a 28x28 frame."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.zeros((len(digits.images), 28, 28, 1), dtype=np.float32)
    for i, img in enumerate(digits.images):
        small = Image.fromarray((img / 16.0).astype(np.float32), mode="F")
        big = np.asarray(small.resize((20, 20), Image.Resampling.BILINEAR), dtype=np.float32)
        images[i, 4:24, 4:24, 0] = np.clip(big, 0.0, 1.0)
    return images, digits.target.astype(np.int64)


def build_mnist(out: Path) -> Built:
    images, y = digits_28()
    rng = np.random.default_rng(301)
    order = rng.permutation(len(images))
    hidden, sample, train = np.split(order, [MNIST_HIDDEN, MNIST_HIDDEN + MNIST_SAMPLE])
    built: Built = []
    for rel, idx in ((DATASET_NAMES["lab2-mnist"], hidden), ("samples/lab2-mnist", sample)):
        set_dir = fresh_set(out, rel)
        save_npy(set_dir / "inputs" / "images.npy", images[idx])
        labels = {"y": y[idx], "split": balanced_split(len(idx), rng)}
        save_npz(set_dir / "labels" / "labels.npz", labels)
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], "lab2-mnist")))
    train_idx = np.sort(train)
    save_npz(out / "samples/lab2-mnist/train.npz", {"x": images[train_idx], "y": y[train_idx]})
    return built


# ---------------------------------------------------------------------------- music

MUSIC_HIDDEN_TUNES = 80
MUSIC_SAMPLE_TUNES = 40
MUSIC_PROBES = 24


def music_split(sdist: Path) -> tuple[list[str], list[str], list[str], list[str]]:
    """(vocab, hidden tunes, sample tunes, training tunes) — shared with the entry maker."""
    text = read_sdist_members(sdist, "data")["irish.abc"].decode("utf-8")
    vocab = sorted(set(text))
    tunes = split_tunes(text)
    order = np.random.default_rng(101).permutation(len(tunes))
    a, b = MUSIC_HIDDEN_TUNES, MUSIC_HIDDEN_TUNES + MUSIC_SAMPLE_TUNES
    pick = [[tunes[i] for i in sorted(part)] for part in np.split(order, [a, b])]
    return vocab, pick[0], pick[1], pick[2]


def music_rows(
    tunes: list[str], vocab: list[str], rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Windows of T tokens over the tunes (blank line between tunes), plus unscored copies.

    The copies (`real` false, and the `probe_*` arrays) served the grader's old causality
    check, which no longer reads them (docs/hidden-data.md); they stay so that v1 keeps the
    bytes its checksum in lab_specs/lab1-music.toml pins. A v2 set should drop them."""
    index = {c: i for i, c in enumerate(vocab)}
    stream = np.array([index[c] for c in "\n\n".join(tunes) + "\n\n"], dtype=np.int32)
    n_real = (len(stream) - 1) // MUSIC_T
    tokens = np.stack([stream[i * MUSIC_T : (i + 1) * MUSIC_T] for i in range(n_real)])
    targets = np.stack([stream[i * MUSIC_T + 1 : (i + 1) * MUSIC_T + 1] for i in range(n_real)])

    n_probe = min(MUSIC_PROBES, n_real)
    probe_src = np.sort(rng.choice(n_real, size=n_probe, replace=False))
    probe_k = rng.integers(10, MUSIC_T - 10, size=n_probe)
    pert_tokens = tokens[probe_src].copy()
    pert_targets = targets[probe_src].copy()
    vocab_size = len(vocab)
    for row, k in enumerate(probe_k):
        # A nonzero shift mod V guarantees every later character differs from the original.
        shift = rng.integers(1, vocab_size, size=MUSIC_T - k - 1)
        pert_tokens[row, k + 1 :] = (pert_tokens[row, k + 1 :] + shift) % vocab_size
        pert_targets[row, k:-1] = pert_tokens[row, k + 1 :]
        pert_targets[row, -1] = (targets[probe_src[row], -1] + 1) % vocab_size

    all_tokens = np.concatenate([tokens, pert_tokens])
    all_targets = np.concatenate([targets, pert_targets])
    real = np.arange(len(all_tokens)) < n_real
    split = np.concatenate([balanced_split(n_real, rng), np.zeros(n_probe, dtype=np.int8)])
    perm = rng.permutation(len(all_tokens))
    new_pos = np.argsort(perm)  # new_pos[old row] = its row after shuffling
    return {
        "tokens": all_tokens[perm].astype(np.int32),
        "targets": all_targets[perm].astype(np.int32),
        "real": real[perm],
        "split": split[perm].astype(np.int8),
        "probe_orig": new_pos[probe_src].astype(np.int64),
        "probe_pert": new_pos[n_real + np.arange(n_probe)].astype(np.int64),
        "probe_k": probe_k.astype(np.int64),
    }


def build_music(out: Path, sdist: Path) -> Built:
    vocab, hidden, sample, train = music_split(sdist)
    built: Built = []
    for rel, tunes, seed in (
        (DATASET_NAMES["lab1-music"], hidden, 111),
        ("samples/lab1-music", sample, 112),
    ):
        rows = music_rows(tunes, vocab, np.random.default_rng(seed))
        set_dir = fresh_set(out, rel)
        save_npy(set_dir / "inputs" / "tokens.npy", rows.pop("tokens"))
        save_json(set_dir / "inputs" / "vocab.json", vocab)
        save_npz(set_dir / "labels" / "labels.npz", rows)
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], "lab1-music")))
    sample_dir = out / "samples/lab1-music"
    (sample_dir / "train.abc").write_text("\n\n".join(train) + "\n", encoding="utf-8")
    (sample_dir / "sample.abc").write_text("\n\n".join(sample) + "\n", encoding="utf-8")
    return built


# ---------------------------------------------------------------------------- RL

RL_SEEDS = {
    # lab: (seed of the seed generator, hidden public, hidden private, sample public, private)
    "lab3-cartpole": (401, 5, 5, 3, 3),
    "lab3-pong": (402, 1, 1, 1, 1),
}


def build_rl(out: Path, lab: str) -> Built:
    generator, *counts = RL_SEEDS[lab]
    # Distinct seeds for the four lists, so the sample never replays a hidden episode.
    seeds = np.random.default_rng(generator).choice(2**31 - 1, size=sum(counts), replace=False)
    parts = [[int(s) for s in p] for p in np.split(seeds, np.cumsum(counts)[:-1])]
    built: Built = []
    for rel, public, private in (
        (DATASET_NAMES[lab], parts[0], parts[1]),
        (f"samples/{lab}", parts[2], parts[3]),
    ):
        set_dir = fresh_set(out, rel)
        save_json(set_dir / "labels" / "seeds.json", {"public": public, "private": private})
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], lab)))
    return built


# ---------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default: $GRADER_HIDDEN_DIR")
    parser.add_argument("--sdist", type=Path, default=None, help="mitdeeplearning-0.7.5.tar.gz")
    parser.add_argument("--only", nargs="*", choices=sorted(DATASET_NAMES), default=None)
    args = parser.parse_args(argv)
    out: Path = args.out or default_hidden_dir()
    labs = args.only or sorted(DATASET_NAMES)
    needs_sdist = {"lab1-music", "lab2-debias"} & set(labs)
    sdist = sdist_path(args.sdist) if needs_sdist else Path()

    steps: dict[str, Callable[[], Built]] = {
        "lab1-music": lambda: build_music(out, sdist),
        "lab2-debias": lambda: build_debias(out, sdist),
        "lab2-mnist": lambda: build_mnist(out),
        "lab3-cartpole": lambda: build_rl(out, "lab3-cartpole"),
        "lab3-pong": lambda: build_rl(out, "lab3-pong"),
    }
    out.mkdir(parents=True, exist_ok=True)
    for lab in labs:
        for rel, checksum in steps[lab]():
            print(f"{rel:28s} {checksum}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
