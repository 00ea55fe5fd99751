"""Scoring in the worker: a batch run's outputs, and a next-character model's stepped tally.

Outputs are untrusted bytes: they are read with `allow_pickle=False`, size-capped, and
checked for shape, dtype and finiteness before any metric sees them. A next-character model's
answers are scored as they arrive (grader/stepwise.py); this module turns the tally into
bits per character per split.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import cams
from grader import intervals as I
from grader import metrics as M
from grader.entry import EntryInfo
from grader.errors import PlatformError
from grader.hidden import Dataset
from grader.outputs import OutputsRefused, load_npy
from grader.songs import check_songs, read_songs
from grader.specs import LOCALIZATION_METRICS, LabSpec

OUTPUT_NAMES = {"classification": "probabilities.npy"}
INPUT_NAMES = {"classification": "images.npy"}
SPLITS = {"public": 0, "private": 1}


def check_splits(splits: Collection[str]) -> tuple[str, ...]:
    """The requested splits in their canonical order; PlatformError for anything else."""
    if not splits or any(s not in SPLITS for s in splits):
        raise PlatformError(f"splits must be some of {', '.join(SPLITS)}, got {list(splits)}")
    return tuple(s for s in SPLITS if s in splits)


def split_rows(split: np.ndarray, splits: Collection[str]) -> np.ndarray:
    """Indices of the rows that belong to the requested splits, in the set's order."""
    return np.flatnonzero(np.isin(split, [SPLITS[s] for s in splits]))


class OutputInvalid(OutputsRefused):
    """The entry's outputs cannot be scored; the message is for the student."""


@dataclass
class Scores:
    metrics: dict[str, float]
    split_metrics: dict[str, dict[str, float]]
    details: dict[str, Any] = field(default_factory=dict)


def load_output(
    path: Path, max_bytes: int, shapes: Collection[tuple[int, ...]], wrong_shape: str
) -> np.ndarray:
    """The output as float64, refused from its .npy header unless it has one of `shapes`.

    The worker's memory per scoring is thus bounded by the lab: nothing bigger than the
    expected shape is ever read, and the float64 copy is at most 8 bytes an element."""
    arr: np.ndarray = load_npy(path, shapes, wrong_shape, max_bytes).astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise OutputInvalid(f"the output contains {bad} NaN or infinite values")
    return arr


def load_labels(dataset: Dataset) -> dict[str, np.ndarray]:
    """The hidden labels, with each row's split (trusted files: a platform fault if bad)."""
    try:
        with np.load(dataset.labels_dir / "labels.npz", allow_pickle=False) as npz:
            labels = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise PlatformError(f"{dataset.name}: labels/labels.npz is unreadable: {exc}") from exc
    if "split" not in labels:
        raise PlatformError(f"{dataset.name}: labels/labels.npz has no split")
    return labels


def _sigmoid(x: np.ndarray) -> np.ndarray:
    result: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))
    return result


def _binary_scores(out: np.ndarray, n: int, notes: list[str]) -> np.ndarray:
    if out.shape == (n, 2):
        if (out < 0).any() or (out > 1).any() or not np.allclose(out.sum(axis=1), 1, atol=1e-3):
            notes.append("the 2 outputs per image were read as logits (softmax applied)")
            out = np.exp(M.log_softmax(out))
        return out[:, 1]
    if out.shape in ((n,), (n, 1)):
        out = out.reshape(n)
        if (out < 0).any() or (out > 1).any():
            notes.append("outputs outside [0, 1] were read as logits (sigmoid applied)")
            out = _sigmoid(out)
        return out
    raise OutputInvalid(
        f"expected one probability of the positive class per image, shape [{n}] (or "
        f"[{n},1] or [{n},2]); got {list(out.shape)}"
    )


def score_classification(
    spec: LabSpec,
    dataset: Dataset,
    out_dir: Path,
    splits: Collection[str] = tuple(SPLITS),
    entry_kind: str = "",
) -> Scores:
    """Score the outputs for the rows of `splits` (the only rows the sandbox was given)."""
    labels = load_labels(dataset)
    rows = split_rows(labels["split"], splits)
    labels = {k: v[rows] for k, v in labels.items()}
    y = labels["y"].astype(np.int64)
    n = len(y)
    assert spec.classes is not None
    if spec.classes == 2:
        shapes = [(n,), (n, 1), (n, 2)]
        wrong = (
            f"expected one probability of the positive class per image, shape [{n}] (or "
            f"[{n},1] or [{n},2])"
        )
    else:
        shapes = [(n, spec.classes)]
        wrong = f"expected {spec.classes} class scores per image, shape [{n},{spec.classes}]"
    path = out_dir / OUTPUT_NAMES["classification"]
    out = load_output(path, spec.limits.output_mb * 2**20, shapes, wrong)
    notes: list[str] = []
    scores = _binary_scores(out, n, notes) if spec.classes == 2 else out
    names = set(spec.metric_names)
    debias = any(name.startswith("accuracy_") for name in names) or bool(
        names & {"debias_accuracy", "mean_group_auc", "worst_group_auc"}
    )
    group = labels.get("group")
    split = labels["split"]
    graded = {s: SPLITS[s] for s in check_splits(splits)}
    seed = I.seed_of(spec.id, scores.tobytes())
    maps = None
    if spec.cam is not None:
        height, width = spec.input.shape[0], spec.input.shape[1]
        maps = cams.load_cams(out_dir, n, height, width, spec.limits.output_mb * 2**20)
        no_maps = cams.no_maps_reason(entry_kind, cams.harness_note(out_dir))
    masks = labels.get("mask")
    cam_ci: dict[str, dict[str, I.Interval]] = {}

    def compute(mask: np.ndarray, name: str) -> M.MetricSet:
        result = M.classification_metrics(y[mask], scores[mask], names)
        if debias and group is not None:
            extra = M.debias_metrics(y[mask], scores[mask], group[mask])
            result.values.update(extra.values)
            result.undefined.update(extra.undefined)
        if spec.cam is not None and names & set(LOCALIZATION_METRICS):
            values, undefined, cam_ci[name] = cams.localization(
                None if maps is None else maps[mask],
                None if masks is None else masks[mask],
                y[mask],
                no_maps,
                seed + 7 + SPLITS.get(name, 2),
            )
            result.values.update({k: v for k, v in values.items() if k in names})
            result.undefined.update({k: v for k, v in undefined.items() if k in names})
        return result

    whole = compute(np.ones(n, dtype=bool), "whole")
    per_split = {s: compute(split == v, s) for s, v in graded.items()}
    details: dict[str, Any] = {"notes": notes}
    per_split_ci = {
        s: I.classification_intervals(
            y[m := split == v],
            scores[m],
            None if group is None or not debias else group[m],
            names,
            spec.ranking.primary,
            seed + v,
        )
        for s, v in graded.items()
    }
    for s, (ci, _) in per_split_ci.items():
        ci.update({k: v for k, v in cam_ci.get(s, {}).items() if k in names})
    attach_intervals(details, per_split_ci)
    # Chart data per split, like the metrics (never the whole set: it would mix the private
    # split into what a page shows beside public-split numbers before the reveal).
    if scores.ndim == 1:
        details["roc_curve"] = {
            s: M.roc_curve_points(y[split == v], scores[split == v]) for s, v in graded.items()
        }
    if debias:
        details["group_accuracy"] = {
            s: {g: per_split[s].values.get(f"accuracy_{g}") for g in ("LF", "LM", "DF", "DM")}
            for s in graded
        }
    if spec.cam is not None and scores.ndim == 1:
        details["cam"] = {
            "source": "" if maps is None else ("entry" if entry_kind == "code" else "grader"),
            "note": "" if maps is not None else no_maps,
        }
        details["cam_samples"] = _cam_samples(
            spec, dataset, graded, split, y, scores, maps, masks, rows
        )
    return _pack(spec, whole, per_split, details)


def _cam_samples(
    spec: LabSpec,
    dataset: Dataset,
    graded: dict[str, int],
    split: np.ndarray,
    y: np.ndarray,
    scores: np.ndarray,
    maps: np.ndarray | None,
    masks: np.ndarray | None,
    rows: np.ndarray,
) -> dict[str, list[dict[str, Any]]]:
    """Each graded split's sample images with the entry's maps over them (grader/cams.py),
    from a pool of rows that is the same for every entry of the set."""
    assert spec.cam is not None
    marked = cams.marked_positives(y, masks)
    picked = {}
    for s, v in graded.items():
        in_split = np.flatnonzero(split == v)
        seed = I.seed_of(dataset.checksum, "cam samples", s)
        pool = in_split[cams.sample_pool(y[in_split], marked[in_split], seed)]
        picked[s] = cams.pick_samples(pool, y, scores, spec.cam.samples)
    # Only the shown rows are read (a staff set of large X-rays need not fit in memory).
    shown = sorted({row for chosen in picked.values() for row, _ in chosen})
    found = load_inputs(dataset, INPUT_NAMES["classification"], rows[shown])
    images = dict(zip(shown, found, strict=True))
    return {
        s: cams.render_samples(images, maps, masks, y, scores, chosen)
        for s, chosen in picked.items()
    }


def load_inputs(dataset: Dataset, name: str, rows: np.ndarray) -> np.ndarray:
    """The hidden set's inputs of `rows` (trusted files: a platform fault if bad)."""
    try:
        whole = np.load(dataset.inputs_dir / name, mmap_mode="r", allow_pickle=False)
        return np.asarray(whole[np.asarray(rows, dtype=np.int64)])
    except (OSError, ValueError, IndexError) as exc:
        raise PlatformError(f"{dataset.name}: inputs/{name} is unreadable: {exc}") from exc


@dataclass(frozen=True)
class TextRows:
    """The rows a next-character grading steps: the scored rows (`real`) of the graded
    splits, in the set's order, with their targets and splits (trusted: the worker's own)."""

    tokens: np.ndarray  # int [n, T]
    targets: np.ndarray  # int64 [n, T]: the character after each position (< 0: none)
    split: np.ndarray  # [n]
    vocab: list[str]


def load_text_rows(dataset: Dataset, splits: Collection[str]) -> TextRows:
    """The hidden set's rows to step for `splits` (a platform fault if the set is bad)."""
    try:
        tokens = np.load(dataset.inputs_dir / "tokens.npy", allow_pickle=False)
        vocab = json.loads((dataset.inputs_dir / "vocab.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlatformError(f"{dataset.name}: inputs are unreadable: {exc}") from exc
    if tokens.ndim != 2 or not isinstance(vocab, list):
        raise PlatformError(f"{dataset.name}: tokens.npy is not [N,T] or vocab.json not a list")
    labels = load_labels(dataset)
    # `real` marks the scored rows; sets without it score every row.
    real = labels["real"].astype(bool) if "real" in labels else np.ones(len(tokens), bool)
    rows = np.intersect1d(split_rows(labels["split"], splits), np.flatnonzero(real))
    targets = labels["targets"]
    if targets.shape != tokens.shape:
        raise PlatformError(f"{dataset.name}: targets and tokens differ in shape")
    targets = targets[rows].astype(np.int64)
    # Rows are windows of one text: a row's last target is the next window's first
    # character, which the entry is handed when it steps that window (in the same session,
    # perhaps before). Never scored, it can teach the entry nothing that pays.
    targets[:, -1:] = -1
    return TextRows(
        tokens=tokens[rows],
        targets=targets,
        split=labels["split"][rows],
        vocab=vocab,
    )


def score_next_char(
    spec: LabSpec,
    text: TextRows,
    bits: np.ndarray,
    entry_dir: Path,
    info: EntryInfo,
    tick: Callable[[], None] | None = None,
    splits: Collection[str] = tuple(SPLITS),
) -> Scores:
    """Bits per character, from the worker's own tally `bits` [n, T] (-log2 p of each target,
    grader/stepwise.py) over the rows of `text`, per graded split."""
    graded = {s: SPLITS[s] for s in check_splits(splits)}
    scored = text.targets >= 0

    def values(mask: np.ndarray) -> np.ndarray:
        # One per scored character, rows in the set's order: the units of the interval and
        # of the paired tie test.
        return np.asarray(bits[mask][scored[mask]], dtype=np.float64)

    def compute(mask: np.ndarray) -> M.MetricSet:
        result = M.MetricSet()
        chars = values(mask)
        mean = float(chars.mean()) if chars.size else None
        if mean is not None and not np.isfinite(mean):  # each is finite: their sum overflowed
            raise OutputInvalid(
                "your model's log-probabilities are so large and negative that their mean "
                "overflows: answer log-probabilities of a sensible size"
            )
        result.put("bits_per_char", mean, "no scored rows")
        return result

    everything = np.ones(len(text.split), dtype=bool)
    whole = compute(everything)
    per_split = {s: compute(text.split == v) for s, v in graded.items()}
    details: dict[str, Any] = {"notes": []}
    seed = I.seed_of(spec.id, bits.tobytes())
    per_split_ci = {
        s: I.mean_intervals("bits_per_char", values(text.split == v), seed + v)
        for s, v in graded.items()
    }
    if info.songs and "abc_validity" in spec.metric_names:
        checked = check_songs(read_songs(entry_dir / info.songs), tick=tick)
        details["songs"] = checked.songs
        details["notes"].extend(checked.notes)
        for result in (whole, *per_split.values()):
            result.put("abc_validity", checked.validity, "songs.abc holds no songs")
        if checked.validity is not None:  # the same songs count on both splits
            for ci, _ in per_split_ci.values():
                ci["abc_validity"] = I.wilson(
                    round(checked.validity * checked.songs), checked.songs
                )
    attach_intervals(details, per_split_ci)
    return _pack(spec, whole, per_split, details)


def attach_intervals(
    details: dict[str, Any], per_split: dict[str, tuple[dict[str, I.Interval], np.ndarray]]
) -> None:
    """Each split's 95 % intervals and per-unit outcomes, for the platform to store with the
    run (it moves them out of the details: the private split's outcomes are not shown)."""
    details["intervals"] = {s: I.as_json(ci) for s, (ci, _) in per_split.items()}
    details["outcomes"] = {
        s: I.pack_outcomes(values) for s, (_, values) in per_split.items() if len(values)
    }


def _pack(
    spec: LabSpec, whole: M.MetricSet, per_split: dict[str, M.MetricSet], details: dict[str, Any]
) -> Scores:
    names = set(spec.metric_names)
    undefined = {k: v for k, v in whole.undefined.items() if k in names}
    for s, ms in per_split.items():
        undefined.update({f"{s}:{k}": v for k, v in ms.undefined.items() if k in names})
    if undefined:
        details["undefined_metrics"] = undefined
    return Scores(
        metrics={k: v for k, v in whole.values.items() if k in names},
        split_metrics={
            s: {k: v for k, v in ms.values.items() if k in names} for s, ms in per_split.items()
        },
        details=details,
    )
