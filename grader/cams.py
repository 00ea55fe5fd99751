"""Class activation maps in the worker: reading an entry's maps, where they point, and the
sample images the entry page and the judges' page show (docs/hidden-data.md, "Class
activation maps").

The maps come from the sandbox (`cams.npy`, one [H, W] map per image, written by the harness
for model files whose structure allows it, or by a code entry's `cams(x)`), so they are read
like any other output: shape and size checked from the header, then every value finite and
within ±CAM_MAX_ABS, or the run is `invalid_output` with the reason.

Negative map values are clipped at 0 everywhere here: a map says where the evidence FOR the
positive class is, and a region that argues against it is "not looked at" rather than
"looked at negatively".
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from grader import intervals as I
from grader.outputs import OutputsRefused, read_json
from grader.specs import CAM_MAX_ABS

CAMS_NAME = "cams.npy"
# Candidate sample images per split: every entry's samples are drawn from the same few, so
# that judges compare models on the same X-rays and the page never shows more of a split
# (and the labels its "correct" and "misclassified" give away) than these.
POOL = 12
THUMB_MAX = 128  # pixels: larger images are scaled down for the page
# The colour scale of the maps: (value in [0, 1], RGB), linear in between; the pages draw
# their legend from these stops.
COLOUR_STOPS: tuple[tuple[float, tuple[int, int, int]], ...] = (
    (0.0, (48, 18, 59)),
    (0.25, (40, 140, 250)),
    (0.5, (30, 220, 160)),
    (0.75, (250, 190, 40)),
    (1.0, (200, 20, 10)),
)
OVERLAY_ALPHA = 0.7  # the colour's opacity at the map's maximum (0 where the map is 0)
OUTLINE_RGBA = (255, 255, 255, 255)  # the marked region's border


class CamsInvalid(OutputsRefused):
    """The entry's maps cannot be used; the message is for the student."""


def load_cams(out_dir: Path, n: int, height: int, width: int, max_bytes: int) -> np.ndarray | None:
    """The entry's maps as float64 [n, height, width], or None when it wrote none."""
    from grader.outputs import load_npy

    path = out_dir / CAMS_NAME
    if not path.exists() and not path.is_symlink():
        return None
    wrong = (
        f"{CAMS_NAME}: expected one class activation map per image, shape [{n}, {height}, {width}]"
    )
    maps = load_npy(path, [(n, height, width)], wrong, max_bytes).astype(np.float64)
    bad = int((~np.isfinite(maps)).sum())
    if bad:
        raise CamsInvalid(f"the class activation maps contain {bad} NaN or infinite values")
    peak = float(np.abs(maps).max()) if maps.size else 0.0
    if peak > CAM_MAX_ABS:
        raise CamsInvalid(
            f"the class activation maps hold values up to {peak:.3g} in magnitude; at most "
            f"{CAM_MAX_ABS:,.0f} is accepted (a map is compared by its shape: scale it down)"
        )
    return maps


def harness_note(out_dir: Path) -> str:
    """Why the harness made no maps, as it said (untrusted: a short plain string)."""
    try:
        raw = read_json(out_dir / "harness.json", 65536)
    except (OSError, OutputsRefused):
        return ""
    note = raw.get("cam_note") if isinstance(raw, dict) else None
    return " ".join(note.split())[:300] if isinstance(note, str) else ""


NO_MAPS = {
    "keras": "the model does not end in global average pooling and a dense layer",
    "torch": "the model's structure does not show its last convolutional maps",
    "code": "submission.py defines no cams(x)",
}


def no_maps_reason(kind: str, note: str) -> str:
    return f"no class activation maps: {note or NO_MAPS.get(kind, 'none were made')}"


# ------------------------------------------------------------------------------ localization


def positive_part(maps: np.ndarray) -> np.ndarray:
    clipped: np.ndarray = np.clip(maps, 0.0, None)
    return clipped


def pointing_hits(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """1.0 per image whose map peaks inside its region, else 0.0 ([m, H, W] each).

    The peak is every pixel holding the maximum of the map's positive part: it counts only
    when all of them lie in the region (a flat map does not point), and a map that is
    nowhere positive points nowhere."""
    positive = positive_part(maps).reshape(len(maps), -1)
    inside = masks.reshape(len(masks), -1).astype(bool)
    peak = positive.max(axis=1, initial=0.0)
    at_peak = positive == peak[:, None]
    hits: np.ndarray = ((peak > 0) & ~(at_peak & ~inside).any(axis=1)).astype(np.float64)
    return hits


def mass_inside(maps: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image, the share of the map's positive mass inside its region (0 without mass)."""
    positive = positive_part(maps).reshape(len(maps), -1)
    inside = masks.reshape(len(masks), -1).astype(bool)
    total = positive.sum(axis=1)
    within = np.where(inside, positive, 0.0).sum(axis=1)
    shares: np.ndarray = np.where(total > 0, within / np.where(total > 0, total, 1.0), 0.0)
    return shares


def marked_positives(y: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
    """Which rows are positive and have a marked region (the localization figures' units)."""
    if masks is None:
        return np.zeros(len(y), dtype=bool)
    marked: np.ndarray = (y == 1) & masks.reshape(len(masks), -1).any(axis=1)
    return marked


def localization(
    maps: np.ndarray | None,
    masks: np.ndarray | None,
    y: np.ndarray,
    why_no_maps: str,
    seed: int,
) -> tuple[dict[str, float], dict[str, str], dict[str, I.Interval]]:
    """(values, undefined with why, 95 % intervals) of pointing_game and cam_mass_inside over
    the rows given: a Wilson interval for the hit rate, a bootstrap one for the mean share."""
    names = ("pointing_game", "cam_mass_inside")
    marked = marked_positives(y, masks)
    if maps is None:
        return {}, dict.fromkeys(names, why_no_maps), {}
    if not marked.any():
        why = "undefined: no positive example has a marked region in this set"
        return {}, dict.fromkeys(names, why), {}
    assert masks is not None
    hits = pointing_hits(maps[marked], masks[marked])
    shares = mass_inside(maps[marked], masks[marked])
    values = {"pointing_game": float(hits.mean()), "cam_mass_inside": float(shares.mean())}
    ci = {
        "pointing_game": I.wilson(int(hits.sum()), len(hits)),
        "cam_mass_inside": I.bootstrap_mean(shares, seed),
    }
    return values, {}, ci


# ------------------------------------------------------------------------------ samples


def sample_pool(y: np.ndarray, marked: np.ndarray, seed: int, size: int = POOL) -> np.ndarray:
    """Up to `size` row indices, half positive (those with a marked region first), half
    negative, drawn from `seed` (the set's checksum and split: the same for every entry)."""
    rng = np.random.default_rng(seed)
    positives = np.flatnonzero(y == 1)
    positives = positives[rng.permutation(len(positives))]
    positives = positives[np.argsort(~marked[positives], kind="stable")]
    negatives = np.flatnonzero(y != 1)
    negatives = negatives[rng.permutation(len(negatives))]
    half = size // 2
    take_pos = min(len(positives), max(half, size - len(negatives)))
    take_neg = min(len(negatives), size - take_pos)
    return np.sort(np.concatenate([positives[:take_pos], negatives[:take_neg]]))


def pick_samples(
    pool: np.ndarray, y: np.ndarray, scores: np.ndarray, count: int
) -> list[tuple[int, bool]]:
    """(row, correct) of at most `count` correct and `count` misclassified rows of the pool:
    the misclassified most confidently wrong first; the correct alternating positive and
    negative, most confident first."""
    predicted = scores >= 0.5
    right = [int(i) for i in pool if predicted[i] == (y[i] == 1)]
    wrong = [int(i) for i in pool if predicted[i] != (y[i] == 1)]
    wrong.sort(key=lambda i: -abs(float(scores[i]) - float(y[i] == 1)))
    pos = sorted((i for i in right if y[i] == 1), key=lambda i: -float(scores[i]))
    neg = sorted((i for i in right if y[i] != 1), key=lambda i: float(scores[i]))
    mixed = [i for pair in zip(pos, neg, strict=False) for i in pair]
    mixed += pos[len(neg) :] + neg[len(pos) :]
    return [(i, True) for i in mixed[:count]] + [(i, False) for i in wrong[:count]]


def _png(array: np.ndarray, mode: str) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG", optimize=True)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _thumb_size(height: int, width: int) -> tuple[int, int]:
    scale = min(1.0, THUMB_MAX / max(height, width))
    return max(1, round(width * scale)), max(1, round(height * scale))


def xray_png(image: np.ndarray) -> str:
    """The image ([H, W, C] in [0, 1]) as a base64 PNG thumbnail: grey, or RGB for 3+
    channels."""
    from PIL import Image

    pixels = np.clip(np.nan_to_num(image.astype(np.float64)), 0.0, 1.0)
    if pixels.shape[-1] >= 3:
        array, mode = (pixels[..., :3] * 255).round().astype(np.uint8), "RGB"
    else:
        array, mode = (pixels[..., 0] * 255).round().astype(np.uint8), "L"
    size = _thumb_size(*array.shape[:2])
    if size != (array.shape[1], array.shape[0]):
        resized = Image.fromarray(array, mode=mode).resize(size, Image.Resampling.BILINEAR)
        array = np.asarray(resized)
    return _png(array, mode)


def colours(values: np.ndarray) -> np.ndarray:
    """RGB [..., 3] uint8 of values in [0, 1] on the COLOUR_STOPS scale."""
    stops = np.array([s for s, _ in COLOUR_STOPS])
    rgb = np.array([c for _, c in COLOUR_STOPS], dtype=np.float64)
    flat = np.clip(values.reshape(-1), 0.0, 1.0)
    out = np.stack([np.interp(flat, stops, rgb[:, k]) for k in range(3)], axis=-1)
    return out.reshape((*values.shape, 3)).round().astype(np.uint8)


def _outline(mask: np.ndarray) -> np.ndarray:
    """The region's border pixels: in the region, with a 4-neighbour outside it."""
    padded = np.pad(mask, 1, constant_values=False)
    interior = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:] & mask
    border: np.ndarray = mask & ~interior
    return border


def heat_png(cam: np.ndarray, mask: np.ndarray | None) -> str:
    """The map as a base64 RGBA PNG to lay over the image: the positive part scaled to the
    map's own maximum, coloured on COLOUR_STOPS, opacity rising with the value; the marked
    region's border in white."""
    from PIL import Image

    positive = positive_part(cam)
    peak = float(positive.max()) if positive.size else 0.0
    value = positive / peak if peak > 0 else np.zeros_like(positive)
    size = _thumb_size(*value.shape)
    if size != (value.shape[1], value.shape[0]):
        scaled = Image.fromarray(value.astype(np.float32), mode="F")
        value = np.asarray(scaled.resize(size, Image.Resampling.BILINEAR), dtype=np.float64)
    rgba = np.zeros((*value.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colours(value)
    rgba[..., 3] = (np.clip(value, 0.0, 1.0) * OVERLAY_ALPHA * 255).round().astype(np.uint8)
    if mask is not None and mask.any():
        region = np.asarray(
            Image.fromarray(mask.astype(np.uint8) * 255, mode="L").resize(
                size, Image.Resampling.NEAREST
            )
        ).astype(bool)
        rgba[_outline(region)] = OUTLINE_RGBA
    return _png(rgba, "RGBA")


def render_samples(
    images: Mapping[int, np.ndarray],
    maps: np.ndarray | None,
    masks: np.ndarray | None,
    y: np.ndarray,
    scores: np.ndarray,
    picked: list[tuple[int, bool]],
) -> list[dict[str, Any]]:
    """What the pages show of each picked row: its thumbnail, its map over it (when the
    entry has maps), the model's probability, the truth, and whether a region is marked."""
    out = []
    for row, correct in picked:
        mask = None if masks is None else masks[row].astype(bool)
        out.append(
            {
                "label": int(y[row] == 1),
                "probability": round(float(scores[row]), 4),
                "correct": correct,
                "marked": bool(mask is not None and mask.any()),
                # A map that is nowhere positive draws nothing: the page says so.
                "evidence": maps is not None and bool((maps[row] > 0).any()),
                "xray": xray_png(images[row]),
                "heat": "" if maps is None else heat_png(maps[row], mask),
            }
        )
    return out
