"""Metrics, computed in the worker from validated outputs and the hidden labels.

scikit-learn is used where it has the metric (imported lazily: it costs over a second).
A metric that is undefined on a set (ROC AUC with one class, a group with no examples) is
returned as None with a reason, never as 0 or NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from grader.specs import DEBIAS_GROUPS


@dataclass
class MetricSet:
    values: dict[str, float] = field(default_factory=dict)
    undefined: dict[str, str] = field(default_factory=dict)  # name -> why

    def put(self, name: str, value: float | None, why: str = "") -> None:
        if value is None or not math.isfinite(value):
            self.undefined[name] = why or "undefined on this set"
        else:
            self.values[name] = float(value)


def roc_auc(y_true: np.ndarray, scores: np.ndarray) -> tuple[float | None, str]:
    if len(np.unique(y_true)) < 2:
        return None, "undefined: the set has only one class (faces or non-faces)"
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped,unused-ignore]

    return float(roc_auc_score(y_true, scores)), ""


def roc_curve_points(
    y_true: np.ndarray, scores: np.ndarray, max_points: int = 50
) -> dict[str, list[float]]:
    if len(np.unique(y_true)) < 2:
        return {}
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, scores)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), max_points)).astype(int))
    return {
        "fpr": [round(float(v), 4) for v in fpr[keep]],
        "tpr": [round(float(v), 4) for v in tpr[keep]],
    }


def accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float | None:
    if len(y_true) == 0:
        return None
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred))


def classification_metrics(y: np.ndarray, scores: np.ndarray, names: set[str]) -> MetricSet:
    """`scores`: [N] probability of the positive class (binary) or [N,K] class scores."""
    out = MetricSet()
    if scores.ndim == 2:
        if "accuracy" in names:
            out.put("accuracy", accuracy(y, scores.argmax(axis=1)), "the set is empty")
        return out
    predicted = (scores >= 0.5).astype(np.int64)
    if "accuracy" in names:
        out.put("accuracy", accuracy(y, predicted), "the set is empty")
    if "roc_auc" in names:
        value, why = roc_auc(y, scores)
        out.put("roc_auc", value, why)
    return out


def debias_metrics(y: np.ndarray, scores: np.ndarray, group: np.ndarray) -> MetricSet:
    """Group accuracies of a face detector, in %: faces of each group detected as faces."""
    out = MetricSet()
    detected = scores >= 0.5
    accs: list[float] = []
    for g in DEBIAS_GROUPS:
        mask = (group == g) & (y == 1)
        if mask.any():
            acc = 100.0 * float(detected[mask].mean())
            accs.append(acc)
            out.put(f"accuracy_{g}", acc)
        else:
            out.put(f"accuracy_{g}", None, f"undefined: no {g} faces in this set")
    if len(accs) == len(DEBIAS_GROUPS):
        out.put("debias_accuracy", float(np.mean(accs)))
        out.put("group_accuracy_variance", float(np.var(accs)))  # population variance (ddof=0)
        out.put("worst_group_accuracy", float(min(accs)))
    else:
        why = "undefined: the set lacks faces of some group"
        for name in ("debias_accuracy", "group_accuracy_variance", "worst_group_accuracy"):
            out.put(name, None, why)
    non_face = y == 0
    if non_face.any():
        out.put("non_face_specificity", 100.0 * float((~detected[non_face]).mean()))
    else:
        out.put("non_face_specificity", None, "undefined: no non-face images in this set")
    by_group = group_auc_metrics(y, scores, group)
    out.values.update(by_group.values)
    out.undefined.update(by_group.undefined)
    return out


def group_aucs(
    y: np.ndarray, scores: np.ndarray, group: np.ndarray
) -> dict[str, tuple[float | None, str]]:
    """Each group's ROC AUC: its faces against all the non-faces, (value or None, why)."""
    result: dict[str, tuple[float | None, str]] = {}
    non_face = y == 0
    for g in DEBIAS_GROUPS:
        faces = (group == g) & (y == 1)
        if not faces.any():
            result[g] = (None, f"undefined: no {g} faces in this set")
        elif not non_face.any():
            result[g] = (None, "undefined: no non-face images in this set")
        else:
            mask = faces | non_face
            result[g] = roc_auc(y[mask], scores[mask])
    return result


def group_auc_metrics(y: np.ndarray, scores: np.ndarray, group: np.ndarray) -> MetricSet:
    """`mean_group_auc` (mean of the four group AUCs) and `worst_group_auc` (the lowest).

    Unlike group accuracies, which only look at faces, each group's AUC asks whether that
    group's faces score above the non-faces: a constant answer gets exactly 0.5."""
    out = MetricSet()
    aucs = group_aucs(y, scores, group)
    values = [v for v, _ in aucs.values() if v is not None]
    if len(values) == len(DEBIAS_GROUPS):
        out.put("mean_group_auc", float(np.mean(values)))
        out.put("worst_group_auc", float(min(values)))
    else:
        why = next(w for v, w in aucs.values() if v is None)
        out.put("mean_group_auc", None, why)
        out.put("worst_group_auc", None, why)
    return out


def log_softmax(x: np.ndarray) -> np.ndarray:
    """Log-softmax over the last axis, in float64. Values too large for it (1e308, infinities,
    NaN) give NaN or -inf, never a finite number: callers check what they score."""
    x = x.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        m = x.max(axis=-1, keepdims=True)
        result: np.ndarray = x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))
    return result


def target_bits(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """-log2 p(target) at each position, from logits or log-probabilities `scores` [..., V]
    (renormalised with a log-softmax): float64, shaped like `targets`; NaN where the target
    is negative (no target), and NaN or +inf where the scores are not fit to score."""
    lp = log_softmax(scores)
    scored = targets >= 0
    picked = np.take_along_axis(lp, np.where(scored, targets, 0)[..., None], axis=-1)[..., 0]
    return np.where(scored, -picked / math.log(2), np.nan)


def return_stats(returns: list[float]) -> MetricSet:
    out = MetricSet()
    if returns:
        out.put("mean_return", float(np.mean(returns)))
        out.put("std_return", float(np.std(returns)))  # population standard deviation
    else:
        out.put("mean_return", None, "no episodes")
        out.put("std_return", None, "no episodes")
    out.put("episodes", float(len(returns)))
    return out


def abc_validity(text: str) -> tuple[float | None, int]:
    """(fraction of songs music21 parses into a stream with notes, number of songs).

    Parsed in a bounded child process: see grader.songs, the one home of that rule."""
    from grader.songs import check_songs

    result = check_songs(text)
    return result.validity, result.songs
