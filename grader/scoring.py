"""Phase 2 of batch grading: validate the sandbox's outputs and score them, in the worker.

Outputs are untrusted bytes: they are read with `allow_pickle=False`, size-capped, and
checked for shape, dtype and finiteness before any metric sees them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from grader import intervals as I
from grader import metrics as M
from grader.entry import EntryInfo
from grader.errors import PlatformError
from grader.hidden import Dataset
from grader.specs import LabSpec

OUTPUT_NAMES = {"classification": "probabilities.npy", "next_char": "logprobs.npy"}
SPLITS = {"public": 0, "private": 1}


class OutputInvalid(Exception):
    """The entry's outputs cannot be scored; the message is for the student."""


class CausalityViolation(Exception):
    """A next-character model looked at the future; the message is for the student."""


@dataclass
class Scores:
    metrics: dict[str, float]
    split_metrics: dict[str, dict[str, float]]
    details: dict[str, Any] = field(default_factory=dict)


def load_output(path: Path, max_bytes: int) -> np.ndarray:
    if not path.is_file():
        raise OutputInvalid(f"your entry finished without writing its output ({path.name})")
    if path.stat().st_size > max_bytes:
        raise OutputInvalid(f"the output is larger than {max_bytes // 2**20} MB")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise OutputInvalid(f"the output is not a plain numeric array ({exc})") from exc
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
        raise OutputInvalid("the output is not a numeric array")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise OutputInvalid(f"the output contains {bad} NaN or infinite values")
    return arr


def _load_labels(dataset: Dataset) -> dict[str, np.ndarray]:
    try:
        with np.load(dataset.labels_dir / "labels.npz", allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, KeyError) as exc:
        raise PlatformError(f"{dataset.name}: labels/labels.npz is unreadable: {exc}") from exc


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -500, 500)))


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
        f"expected one face probability per image, shape [{n}] (or [{n},1] or [{n},2]); "
        f"got {list(out.shape)}"
    )


def score_classification(spec: LabSpec, dataset: Dataset, out_dir: Path) -> Scores:
    labels = _load_labels(dataset)
    y = labels["y"].astype(np.int64)
    n = len(y)
    out = load_output(out_dir / OUTPUT_NAMES["classification"], spec.limits.output_mb * 2**20)
    notes: list[str] = []
    assert spec.classes is not None
    if spec.classes == 2:
        scores = _binary_scores(out, n, notes)
    elif out.shape == (n, spec.classes):
        scores = out
    else:
        raise OutputInvalid(
            f"expected {spec.classes} class scores per image, shape [{n},{spec.classes}]; "
            f"got {list(out.shape)}"
        )
    names = set(spec.metric_names)
    debias = any(name.startswith("accuracy_") for name in names) or "debias_accuracy" in names
    group = labels.get("group")
    split = labels.get("split", np.zeros(n, dtype=np.int8))

    def compute(mask: np.ndarray) -> M.MetricSet:
        result = M.classification_metrics(y[mask], scores[mask], names)
        if debias and group is not None:
            extra = M.debias_metrics(y[mask], scores[mask], group[mask])
            result.values.update(extra.values)
            result.undefined.update(extra.undefined)
        return result

    whole = compute(np.ones(n, dtype=bool))
    per_split = {s: compute(split == v) for s, v in SPLITS.items()}
    details: dict[str, Any] = {"notes": notes}
    seed = I.seed_of(spec.id, scores.tobytes())
    attach_intervals(
        details,
        {
            s: I.classification_intervals(
                y[m := split == v],
                scores[m],
                None if group is None or not debias else group[m],
                names,
                spec.ranking.primary,
                seed + v,
            )
            for s, v in SPLITS.items()
        },
    )
    if scores.ndim == 1:
        details["roc_curve"] = M.roc_curve_points(y, scores)
    if debias:
        details["group_accuracy"] = {
            g: whole.values.get(f"accuracy_{g}") for g in ("LF", "LM", "DF", "DM")
        }
    return _pack(spec, whole, per_split, details)


def score_next_char(
    spec: LabSpec, dataset: Dataset, out_dir: Path, entry_dir: Path, info: EntryInfo
) -> Scores:
    labels = _load_labels(dataset)
    tokens_shape = np.load(dataset.inputs_dir / "tokens.npy", mmap_mode="r").shape
    vocab = json.loads((dataset.inputs_dir / "vocab.json").read_text(encoding="utf-8"))
    expected = (*tokens_shape, len(vocab))
    out = load_output(out_dir / OUTPUT_NAMES["next_char"], spec.limits.output_mb * 2**20)
    if out.shape != expected:
        raise OutputInvalid(
            f"expected log-probabilities of shape {list(expected)} (rows, positions, vocabulary "
            f"of {len(vocab)}); got {list(out.shape)}"
        )
    violation = M.causality_violation(
        out, labels["probe_orig"], labels["probe_pert"], labels["probe_k"]
    )
    if violation is not None:
        _row, pos, diff = violation
        raise CausalityViolation(
            "your model looks ahead: its prediction at position "
            f"{pos} changed (by {diff:.3g} in probability) when only characters AFTER that "
            "position changed. A next-character model may use only the characters up to the "
            "current one."
        )
    targets = labels["targets"].astype(np.int64)
    real = labels["real"].astype(bool)
    split = labels["split"]

    def compute(mask: np.ndarray) -> M.MetricSet:
        result = M.MetricSet()
        result.put("bits_per_char", M.bits_per_char(out[mask], targets[mask]), "no scored rows")
        return result

    whole = compute(real)
    per_split = {s: compute(real & (split == v)) for s, v in SPLITS.items()}
    details: dict[str, Any] = {"notes": [], "probes_checked": int(len(labels["probe_k"]))}
    seed = I.seed_of(spec.id, out.tobytes())
    per_split_ci = {
        s: I.mean_intervals("bits_per_char", M.char_bits(out[m], targets[m]), seed + v)
        for s, v in SPLITS.items()
        for m in [real & (split == v)]
    }
    if info.songs and "abc_validity" in spec.metric_names:
        text = (entry_dir / info.songs).read_bytes()[: 2 * 2**20].decode("utf-8", "replace")
        validity, n_songs = M.abc_validity(text)
        details["songs"] = n_songs
        for result in (whole, *per_split.values()):
            result.put("abc_validity", validity, "songs.abc holds no songs")
        if validity is not None:  # the same songs count on both splits
            for ci, _ in per_split_ci.values():
                ci["abc_validity"] = I.wilson(round(validity * n_songs), n_songs)
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
