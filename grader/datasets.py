"""Building and verifying hidden sets from staff's own files (layout: docs/hidden-data.md).

`python -m grader dataset build --lab LAB SOURCE --out DIR` turns a source (a folder per
class, a CSV, an `.npz`, a text file of ABC tunes, or a count of episodes) into a set: it
draws the public/private split from a secret seed, writes `inputs/`, `labels/` and
`manifest.json`, and returns the checksum the lab spec records. Every byte written depends
only on the source and the seed (fixed zip timestamps, sorted keys), so a rebuild with the
same seed reproduces the set.

Bad sources raise `SourceError` with a message that names the offending row or file.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader.errors import GraderError
from grader.specs import DEBIAS_GROUPS, LabSpec

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
DEFAULT_SEQ_LEN = 100
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # np.savez would stamp the current time
SPLIT_NAMES = {"public": 0, "private": 1, "0": 0, "1": 1}
# Staff's source files can be hostile too (an image from the web, a shared archive): an image
# file above this is refused before it is decoded, and so is an .npz whose arrays would
# need more memory than this (read from each array's header, before any data).
MAX_SOURCE_IMAGE_BYTES = 32 * 2**20
MAX_SOURCE_ARRAY_BYTES = 8 * 2**30


class SourceError(GraderError):
    """The source files cannot become a set; the message names the row or file at fault."""


# ---------------------------------------------------------------------------- writing


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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def set_files(set_dir: Path) -> dict[str, str]:
    """sha256 of every file under inputs/ and labels/, keyed by POSIX relpath."""
    files: dict[str, str] = {}
    for part in ("inputs", "labels"):
        root = set_dir / part
        if not root.is_dir():
            continue
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


def verify_set(set_dir: Path) -> tuple[str | None, list[str]]:
    """(the checksum recomputed from the files, problems); each problem names its file."""
    try:
        manifest = json.loads((set_dir / "manifest.json").read_text(encoding="utf-8"))
        listed = manifest["files"]
        if not isinstance(listed, dict):
            raise TypeError("'files' is not a table")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, [f"{set_dir / 'manifest.json'}: unreadable manifest ({exc})"]
    actual = set_files(set_dir)
    problems = []
    for rel in sorted(set(listed) | set(actual)):
        if rel not in actual:
            problems.append(f"{rel}: missing (listed in the manifest)")
        elif rel not in listed:
            problems.append(f"{rel}: not in the manifest")
        elif actual[rel] != listed[rel]:
            problems.append(f"{rel}: sha256 {actual[rel]} differs from the manifest's")
    checksum = checksum_of(actual)
    if not problems and manifest.get("checksum") != checksum:
        problems.append(f"manifest.json: checksum {manifest.get('checksum')} is not {checksum}")
    return checksum, problems


# ---------------------------------------------------------------------------- secrets


def new_seed() -> int:
    return secrets.randbits(128)


def load_or_create_secret(path: Path) -> int:
    """A 128-bit secret kept in `path` (created 0600 on first use, never in the repository)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{new_seed():032x}\n")
    text = path.read_text(encoding="utf-8").strip()
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise SourceError(f"{path}: not a secret written by the grader (32 hex digits)")
    return int(text, 16)


def derive_rng(secret: int, *purpose: str) -> np.random.Generator:
    """An independent generator per purpose, so one use of the secret never reveals another."""
    digest = hashlib.sha256(f"{secret:032x}:{':'.join(purpose)}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


# ---------------------------------------------------------------------------- splits


def balanced_split(n: int, rng: np.random.Generator) -> np.ndarray:
    """0 = public, 1 = private, half each (the extra one private), in random order."""
    split = np.zeros(n, dtype=np.int8)
    split[n // 2 :] = 1
    return split[rng.permutation(n)]


def stratified_split(
    strata: Sequence[str], given: Sequence[int | None], rng: np.random.Generator
) -> np.ndarray:
    """Half of each stratum public, half private; rows with a given split keep it.

    Strata are visited in sorted order and the odd row of each goes alternately to public
    and private, so the two splits stay the same size overall.
    """
    split = np.array([-1 if g is None else g for g in given], dtype=np.int8)
    odd_to_private = True
    for key in sorted(set(strata)):
        rows = np.array([i for i, s in enumerate(strata) if s == key and given[i] is None])
        if len(rows) == 0:
            continue
        rows = rows[rng.permutation(len(rows))]
        half = len(rows) // 2 + (0 if odd_to_private else len(rows) % 2)
        if len(rows) % 2:
            odd_to_private = not odd_to_private
        split[rows[:half]] = 0
        split[rows[half:]] = 1
    return split


# ---------------------------------------------------------------------------- classification


@dataclass
class Rows:
    """Classification rows read from a source, before the split is drawn."""

    images: list[np.ndarray]
    y: list[int]
    group: list[str]
    split: list[int | None]
    where: list[str]  # how an error names each row ("row 3 (cats/a.png)")
    # Each row's region mask ([H, W] bool: where the finding is), or None (labs with [cam]).
    masks: list[np.ndarray | None] = field(default_factory=list)


def _image_shape(spec: LabSpec) -> tuple[int, int, int]:
    shape = spec.input.shape
    if len(shape) != 3 or min(shape) < 1 or shape[2] not in (1, 3, 4):
        raise SourceError(
            f"lab {spec.id} takes inputs of shape {list(shape)}: dataset build makes image "
            "sets of a fixed [height, width, channels] with 1, 3 or 4 channels"
        )
    return shape[0], shape[1], shape[2]


def _allowed_groups(spec: LabSpec) -> tuple[str, ...]:
    names = set(spec.metric_names)
    if "debias_accuracy" in names or any(n.startswith("accuracy_") for n in names):
        return DEBIAS_GROUPS
    return ()


def _scale(spec: LabSpec, array: np.ndarray, where: str) -> np.ndarray:
    """An image array as the lab's input dtype: uint8 pixels are divided by 255 for floats."""
    if spec.input.dtype == "uint8":
        if array.dtype != np.uint8:
            raise SourceError(f"{where}: the lab takes uint8 images, got {array.dtype}")
        return array
    if array.dtype == np.uint8:
        out = array.astype(np.float32) / np.float32(255.0)
    elif array.dtype.kind == "f":
        out = array.astype(np.float32)
    else:
        raise SourceError(f"{where}: images must be uint8 or float, got {array.dtype}")
    if not np.isfinite(out).all():
        raise SourceError(f"{where}: the image holds NaN or infinite values")
    low, high = spec.input.value_range or (-np.inf, np.inf)
    if out.size and (out.min() < low or out.max() > high):
        raise SourceError(
            f"{where}: pixel values {out.min():.3g}..{out.max():.3g} are outside the lab's "
            f"range [{low:g}, {high:g}]"
        )
    return out


def _decode(path: Path, spec: LabSpec, where: str, mode: str, what: str) -> np.ndarray:
    """An image file of the lab's height and width as uint8 pixels in `mode` (L, RGB,
    RGBA), refused before decoding when the file is too large or a decompression bomb."""
    import warnings

    from PIL import Image, UnidentifiedImageError

    height, width, _ = _image_shape(spec)
    if not path.is_file():
        raise SourceError(f"{where}: no such file {path}")
    size = path.stat().st_size
    if size > MAX_SOURCE_IMAGE_BYTES:
        raise SourceError(
            f"{where}: {path.name} is {size / 2**20:.0f} MB; image files above "
            f"{MAX_SOURCE_IMAGE_BYTES / 2**20:.0f} MB are refused (resize your images first)"
        )
    try:
        with warnings.catch_warnings():
            # Pillow only warns below twice its pixel limit: a bomb either way.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                if img.size != (width, height):
                    raise SourceError(
                        f"{where}: the {what} is {img.size[0]}x{img.size[1]} pixels; lab "
                        f"{spec.id} takes {width}x{height} (resize your images first)"
                    )
                array = np.asarray(img.convert(mode), dtype=np.uint8)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SourceError(
            f"{where}: {path.name} is refused as a decompression bomb ({exc})"
        ) from exc
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        # ValueError: e.g. a text chunk that inflates past Pillow's limit; SyntaxError: a
        # malformed header some plugins report so.
        raise SourceError(f"{where}: {path.name} is not a readable image ({exc})") from exc
    return array


def _read_image(path: Path, spec: LabSpec, where: str) -> np.ndarray:
    height, width, channels = _image_shape(spec)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
    array = _decode(path, spec, where, mode, "image")
    return _scale(spec, array.reshape(height, width, channels), where)


def _read_mask(path: Path, spec: LabSpec, where: str) -> np.ndarray:
    """A region mask image: pixels of 128 or more (grey) are in the region."""
    mask: np.ndarray = _decode(path, spec, where, "L", "mask") >= 128
    return mask


def _check_mask(mask: np.ndarray | None, label: int, where: str) -> np.ndarray | None:
    """A row's mask as the set stores it, or None; SourceError for one that marks nothing
    or belongs to a negative row (a mask marks the finding of a positive case)."""
    if mask is None:
        return None
    if not mask.any():
        raise SourceError(f"{where}: the mask marks no pixel (leave the mask empty instead)")
    if label != 1:
        raise SourceError(
            f"{where}: a mask marks the finding of a positive case (label 1); this row has "
            f"label {label}"
        )
    return mask


def _masks_allowed(spec: LabSpec, source: Path) -> None:
    if spec.cam is None:
        raise SourceError(
            f"{source}: lab {spec.id} shows no class activation maps ([cam] in its spec), so "
            "it takes no region masks"
        )


def _label(raw: str, spec: LabSpec, where: str) -> int:
    assert spec.classes is not None
    text = raw.strip()
    if not re.fullmatch(r"\d+", text) or int(text) >= spec.classes:
        raise SourceError(
            f"{where}: unknown label {raw!r}; lab {spec.id} takes labels 0..{spec.classes - 1}"
        )
    return int(text)


def _group(raw: str, spec: LabSpec, where: str) -> str:
    text = raw.strip()
    allowed = _allowed_groups(spec)
    if text and text not in allowed:
        known = ", ".join(allowed) if allowed else "none (the lab has no group metrics)"
        raise SourceError(f"{where}: unknown group {raw!r}; lab {spec.id} knows {known}")
    return text


def _split_value(raw: str, where: str) -> int | None:
    text = raw.strip().lower()
    if not text:
        return None
    if text not in SPLIT_NAMES:
        raise SourceError(f"{where}: split {raw!r} must be public, private (or 0, 1) or empty")
    return SPLIT_NAMES[text]


def read_folder(source: Path, spec: LabSpec) -> Rows:
    """SOURCE/<label>/<image> or SOURCE/<label>/<group>/<image>."""
    rows = Rows([], [], [], [], [])
    for label_dir in sorted(source.iterdir()):
        if label_dir.name.startswith("."):
            continue
        if not label_dir.is_dir():
            raise SourceError(f"{label_dir}: expected only one folder per label in {source}")
        label = _label(label_dir.name, spec, f"folder {label_dir.name}")
        for path in sorted(label_dir.rglob("*")):
            rel = path.relative_to(source).as_posix()
            if path.is_dir() or path.name.startswith("."):
                continue
            parts = path.relative_to(label_dir).parts
            if len(parts) > 2:
                raise SourceError(f"{rel}: too deep (<label>/<image> or <label>/<group>/<image>)")
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                raise SourceError(f"{rel}: not an image file ({', '.join(IMAGE_SUFFIXES)})")
            group = _group(parts[0], spec, f"{rel}: folder") if len(parts) == 2 else ""
            rows.images.append(_read_image(path, spec, rel))
            rows.y.append(label)
            rows.group.append(group)
            rows.split.append(None)
            rows.where.append(rel)
    if not rows.y:
        raise SourceError(f"{source}: no images found (expected <label>/<image> folders)")
    return rows


def read_csv(source: Path, spec: LabSpec) -> Rows:
    """A CSV with a header path,label[,group][,split][,mask]; paths are relative to the CSV
    (`mask`: a region mask image of a positive row, or empty)."""
    rows = Rows([], [], [], [], [])
    base = source.parent.resolve()
    try:
        with source.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            header = [h.strip() for h in (reader.fieldnames or [])]
            if header[:2] != ["path", "label"] or not set(header[2:]) <= {
                "group",
                "split",
                "mask",
            }:
                raise SourceError(
                    f"{source}: the header must be path,label[,group][,split][,mask]; got "
                    f"{','.join(header) or 'nothing'}"
                )
            if "mask" in header:
                _masks_allowed(spec, source)
            reader.fieldnames = header
            for line, record in enumerate(reader, start=2):
                rel = (record.get("path") or "").strip()
                where = f"{source.name} line {line} ({rel or 'no path'})"
                if None in record or any(v is None for v in record.values()):
                    raise SourceError(f"{where}: expected {len(header)} columns")
                path = (base / rel).resolve()
                if not rel or not path.is_relative_to(base):
                    raise SourceError(f"{where}: the path must be relative to the CSV's folder")
                if not path.is_file():
                    raise SourceError(f"{where}: missing file {path}")
                rows.y.append(_label(record["label"], spec, where))
                rows.group.append(_group(record.get("group") or "", spec, where))
                rows.split.append(_split_value(record.get("split") or "", where))
                rows.images.append(_read_image(path, spec, where))
                rows.where.append(where)
                rows.masks.append(_csv_mask(base, record.get("mask") or "", spec, rows, where))
    except UnicodeDecodeError as exc:
        raise SourceError(f"{source}: not UTF-8 text ({exc})") from exc
    if not rows.y:
        raise SourceError(f"{source}: no rows")
    return rows


def _csv_mask(base: Path, raw: str, spec: LabSpec, rows: Rows, where: str) -> np.ndarray | None:
    rel = raw.strip()
    if not rel:
        return None
    path = (base / rel).resolve()
    if not path.is_relative_to(base):
        raise SourceError(f"{where}: the mask's path must be relative to the CSV's folder")
    return _check_mask(_read_mask(path, spec, f"{where} mask"), rows.y[-1], where)


def read_npz(source: Path, spec: LabSpec) -> Rows:
    """Arrays x [N,H,W,C] (uint8 or float), y [N], optional group [N] and split [N], and
    for labs with class activation maps an optional mask [N,H,W] (0 everywhere: no mask)."""
    height, width, channels = _image_shape(spec)
    _check_npz_sizes(source)
    try:
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{source}: not a readable .npz ({exc})") from exc
    for key in ("x", "y"):
        if key not in arrays:
            raise SourceError(f"{source}: missing array {key!r} (has {sorted(arrays)})")
    unknown = set(arrays) - {"x", "y", "group", "split", "mask"}
    if unknown:
        raise SourceError(f"{source}: unknown arrays {sorted(unknown)} (x, y, group, split, mask)")
    masks = arrays.get("mask")
    if masks is not None:
        _masks_allowed(spec, source)
        if masks.shape != (len(arrays["x"]), height, width) or masks.dtype.kind not in "biu":
            raise SourceError(
                f"{source}: mask must be [N, {height}, {width}] of 0/1 (or bool), got "
                f"{list(masks.shape)} {masks.dtype}"
            )
    x = arrays["x"]
    if x.ndim == 3 and channels == 1:
        x = x[..., None]
    if x.shape[1:] != (height, width, channels):
        raise SourceError(
            f"{source}: x has images of shape {list(x.shape[1:])}; lab {spec.id} takes "
            f"{[height, width, channels]}"
        )
    n = len(x)
    for key in ("y", "group", "split"):
        if key in arrays and arrays[key].shape != (n,):
            raise SourceError(f"{source}: {key} has shape {list(arrays[key].shape)}, not [{n}]")
    if arrays["y"].dtype.kind not in "iu":
        raise SourceError(f"{source}: y must hold integer labels, got {arrays['y'].dtype}")
    group = arrays.get("group", np.array([""] * n))
    split = arrays.get("split")
    rows = Rows([], [], [], [], [])
    for i in range(n):
        where = f"{source.name} row {i}"
        rows.y.append(_label(str(int(arrays["y"][i])), spec, where))
        rows.group.append(_group(str(group[i]), spec, where))
        rows.split.append(None if split is None else _split_value(str(int(split[i])), where))
        rows.images.append(_scale(spec, x[i], where))
        rows.where.append(where)
        if masks is not None:
            row_mask = masks[i].astype(bool) if masks[i].any() else None
            rows.masks.append(_check_mask(row_mask, rows.y[-1], where))
    if not rows.y:
        raise SourceError(f"{source}: no rows")
    return rows


def _check_npz_sizes(source: Path) -> None:
    """Refuse an .npz whose arrays would need more than MAX_SOURCE_ARRAY_BYTES, from each
    array's .npy header (numpy allocates what a header declares before it reads the data)."""
    from numpy.lib import format as npy_format

    total = 0
    try:
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                with zf.open(info) as member:
                    version = npy_format.read_magic(member)
                    read = (
                        npy_format.read_array_header_1_0
                        if version == (1, 0)
                        else npy_format.read_array_header_2_0
                    )
                    shape, _, dtype = read(member, max_header_size=10000)
                total += int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if total > MAX_SOURCE_ARRAY_BYTES:
                    raise SourceError(
                        f"{source}: array {info.filename!r} would need more than "
                        f"{MAX_SOURCE_ARRAY_BYTES / 2**30:.0f} GB: refused as a decompression bomb"
                    )
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise SourceError(f"{source}: not a readable .npz ({exc})") from exc


def _refuse_duplicates(keys: list[bytes], where: list[str], split: np.ndarray) -> None:
    seen: dict[bytes, int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            j = seen[key]
            across = " (across the public and private splits)" if split[i] != split[j] else ""
            raise SourceError(f"{where[i]} duplicates {where[j]}{across}")
        seen[key] = i


def build_classification(spec: LabSpec, rows: Rows, out: Path, rng: np.random.Generator) -> None:
    strata = [f"{y}/{g}" for y, g in zip(rows.y, rows.group, strict=True)]
    split = stratified_split(strata, rows.split, rng)
    keys = [hashlib.sha256(img.tobytes()).digest() for img in rows.images]
    _refuse_duplicates(keys, rows.where, split)
    if not _allowed_groups(spec):
        labels: dict[str, np.ndarray] = {}
    else:
        labels = {"group": np.array(rows.group, dtype="<U2")}
    order = rng.permutation(len(rows.y))  # the source order may give labels away
    labels.update(y=np.array(rows.y, dtype=np.int64), split=split)
    if any(m is not None for m in rows.masks):
        # Region masks are labels: the worker scores maps against them; no sandbox sees them.
        height, width, _ = _image_shape(spec)
        empty = np.zeros((height, width), dtype=np.uint8)
        labels["mask"] = np.stack([empty if m is None else m.astype(np.uint8) for m in rows.masks])
    save_npy(out / "inputs" / "images.npy", np.stack(rows.images)[order])
    save_npz(out / "labels" / "labels.npz", {k: v[order] for k, v in labels.items()})


# ---------------------------------------------------------------------------- next character


def split_tunes(text: str) -> list[str]:
    """Tunes of an ABC file: blocks separated by blank lines, each starting with X:.

    A block that does not start with X: belongs to the tune before (some tunes hold an
    inner blank line).
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


def music_rows(
    tunes: list[str], vocab: list[str], rng: np.random.Generator, seq_len: int
) -> dict[str, np.ndarray]:
    """Windows of seq_len tokens over the tunes (blank line between), in a random order:
    `tokens`, `targets` (the character after each position) and `split`."""
    index = {c: i for i, c in enumerate(vocab)}
    stream = np.array([index[c] for c in "\n\n".join(tunes) + "\n\n"], dtype=np.int32)
    n = (len(stream) - 1) // seq_len
    if n < 2:
        raise SourceError(f"the tunes hold {len(stream)} characters: not 2 rows of {seq_len}")
    tokens = np.stack([stream[i * seq_len : (i + 1) * seq_len] for i in range(n)])
    targets = np.stack([stream[i * seq_len + 1 : (i + 1) * seq_len + 1] for i in range(n)])
    split = balanced_split(n, rng)
    # Shuffled: in text order, a row's neighbours would give away where it goes on.
    perm = rng.permutation(n)
    return {
        "tokens": tokens[perm].astype(np.int32),
        "targets": targets[perm].astype(np.int32),
        "split": split[perm].astype(np.int8),
    }


def read_vocab(path: Path) -> list[str]:
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: not a readable JSON list of characters ({exc})") from exc
    if not isinstance(vocab, list) or not all(isinstance(c, str) and len(c) == 1 for c in vocab):
        raise SourceError(f"{path}: the vocabulary must be a JSON list of single characters")
    if len(set(vocab)) != len(vocab) or len(vocab) < 2:
        raise SourceError(f"{path}: the vocabulary must list at least 2 characters, each once")
    return list(vocab)


def read_tunes(source: Path, vocab: list[str] | None) -> tuple[list[str], list[str]]:
    """(tunes, vocabulary): the vocabulary is derived from the text unless given."""
    try:
        text = source.read_text(encoding="utf-8").replace("\r\n", "\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{source}: not a readable UTF-8 text file ({exc})") from exc
    tunes = split_tunes(text)
    if len(tunes) < 2:
        raise SourceError(f"{source}: fewer than 2 tunes (tunes are separated by blank lines)")
    derived = sorted(set("\n\n".join(tunes) + "\n"))
    if vocab is None:
        vocab = derived
    known = set(vocab)
    for line_no, line in enumerate(text.split("\n"), start=1):
        for col, ch in enumerate(line, start=1):
            if ch not in known:
                raise SourceError(
                    f"{source} line {line_no} column {col}: character {ch!r} is not in the "
                    "vocabulary"
                )
    if "\n" not in known:
        raise SourceError("the vocabulary must include the newline character")
    first: dict[str, int] = {}
    for i, tune in enumerate(tunes):
        body = "\n".join(ln for ln in tune.split("\n") if not ln.startswith("X:"))
        if body in first:
            raise SourceError(f"{source}: tune #{i + 1} repeats tune #{first[body] + 1}")
        first[body] = i
    return tunes, vocab


def write_music_set(
    out: Path, tunes: list[str], vocab: list[str], rng: np.random.Generator, seq_len: int
) -> None:
    rows = music_rows(tunes, vocab, rng, seq_len)
    save_npy(out / "inputs" / "tokens.npy", rows.pop("tokens"))
    save_json(out / "inputs" / "vocab.json", vocab)
    save_npz(out / "labels" / "labels.npz", rows)


# ---------------------------------------------------------------------------- interactive


def draw_seeds(rng: np.random.Generator, counts: Sequence[int]) -> list[list[int]]:
    """Distinct episode seeds, one list per count (so no list replays another's episode)."""
    seeds = rng.choice(2**31 - 1, size=sum(counts), replace=False)
    return [[int(s) for s in part] for part in np.split(seeds, np.cumsum(counts)[:-1])]


def write_seeds(out: Path, public: list[int], private: list[int]) -> None:
    save_json(out / "labels" / "seeds.json", {"public": public, "private": private})


# ---------------------------------------------------------------------------- build


@dataclass(frozen=True)
class BuildOptions:
    vocab: Path | None = None
    seq_len: int = DEFAULT_SEQ_LEN
    public_episodes: int = 0
    private_episodes: int = 0


def build(spec: LabSpec, source: Path | None, out: Path, seed: int, opts: BuildOptions) -> str:
    """Build a set for `spec` from `source` into `out` (replaced whole); returns the checksum.

    The set is written into a temporary sibling folder and moved into place only when
    complete, so a failed build never leaves a half-written set behind.
    """
    rng = np.random.default_rng(seed)
    if spec.task != "interactive":
        if source is None:
            raise SourceError(f"lab {spec.id} ({spec.task}) needs a SOURCE file or folder")
        if not source.exists():
            raise SourceError(f"{source}: no such file or folder")
    if out.exists() and not (out / "manifest.json").is_file() and any(out.iterdir()):
        raise SourceError(f"{out}: exists and is not a data set; choose an empty folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        (tmp / "inputs").mkdir()
        (tmp / "labels").mkdir()
        if spec.task == "classification":
            assert source is not None
            if source.is_dir():
                rows = read_folder(source, spec)
            elif source.suffix.lower() == ".csv":
                rows = read_csv(source, spec)
            elif source.suffix.lower() == ".npz":
                rows = read_npz(source, spec)
            else:
                raise SourceError(f"{source}: expected a folder per label, a .csv or a .npz")
            build_classification(spec, rows, tmp, rng)
        elif spec.task == "next_char":
            assert source is not None
            if opts.seq_len < 12:
                raise SourceError("--seq-len must be at least 12")
            vocab = read_vocab(opts.vocab) if opts.vocab else None
            tunes, vocab = read_tunes(source, vocab)
            write_music_set(tmp, tunes, vocab, rng, opts.seq_len)
        else:
            if source is not None:
                raise SourceError(
                    f"lab {spec.id} is interactive: it takes --public-episodes and "
                    "--private-episodes, not a SOURCE"
                )
            if opts.public_episodes < 1 or opts.private_episodes < 1:
                raise SourceError("--public-episodes and --private-episodes must be at least 1")
            public, private = draw_seeds(rng, (opts.public_episodes, opts.private_episodes))
            write_seeds(tmp, public, private)
        checksum = write_manifest(tmp, out.name, spec.id)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return checksum


def write_spec_checksum(spec_path: Path, checksum: str) -> None:
    """Put `checksum` into the spec's [data] table, keeping the rest of the file as it is."""
    text = spec_path.read_text(encoding="utf-8")
    table = re.search(r"(?ms)^\[data\]\s*$(.*?)(?=^\[|\Z)", text)
    if table is None:
        raise SourceError(f"{spec_path}: no [data] table")
    body = table.group(1)
    new_body, n = re.subn(r'(?m)^checksum\s*=\s*"[^"]*"', f'checksum = "{checksum}"', body)
    if n != 1:
        raise SourceError(f'{spec_path}: [data] must hold exactly one checksum = "..." line')
    spec_path.write_text(text[: table.start(1)] + new_body + text[table.end(1) :], encoding="utf-8")
