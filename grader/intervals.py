"""95 % confidence intervals for a run's metrics, and its per-unit outcomes for paired tests.

Computed once, when a run is scored, and stored with it. Every random draw is seeded from
the run's own data (its outputs or returns), so grading the same entry again reproduces the
intervals exactly; nothing here is secret (the hidden labels are, and they never leave the
worker: only intervals and per-unit outcomes do).

- A proportion (accuracy, a group's accuracy, specificity, the share of valid songs) gets a
  Wilson score interval: a percentile bootstrap collapses at 0 or 1 (16/16 faces is not
  [1, 1]), Wilson does not.
- Anything else gets a percentile bootstrap over the units the metric averages: the hidden
  examples, the scored characters, the episodes.
- `outcomes`: one number per unit whose mean is the primary metric (exactly, or to first
  order for a mean of group accuracies). Two runs on the same hidden set are compared by a
  paired bootstrap of these (the platform's statistical ties).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import math
from collections.abc import Callable

import numpy as np

CONFIDENCE = 0.95
Z95 = 1.959963984540054  # the standard normal's 97.5 % quantile
N_RESAMPLES = 1000
_CHUNK_CELLS = 4_000_000  # resample indices held at once (32 MB of int64)

Interval = tuple[float, float]


def seed_of(*parts: bytes | str) -> int:
    """A 63-bit seed from the run's data: the same data always gives the same draws."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\x00")
    return int.from_bytes(digest.digest()[:8], "big") >> 1


def wilson(successes: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval of a proportion successes/n (never [1, 1] at 16/16)."""
    if n <= 0:
        raise ValueError("no trials")
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exact at the bounds (rounding would otherwise leave 1e-17 outside [0, 1]).
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def resample_indices(n: int, seed: int, n_resamples: int = N_RESAMPLES) -> np.ndarray:
    """The bootstrap's draws: [n_resamples, n] indices into the units, from `seed`."""
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _percentile(stats: np.ndarray) -> Interval:
    alpha = (1 - CONFIDENCE) / 2
    finite = stats[np.isfinite(stats)]
    if finite.size == 0:
        return math.nan, math.nan
    low, high = np.quantile(finite, [alpha, 1 - alpha])
    return float(low), float(high)


def bootstrap_mean(values: np.ndarray, seed: int, n_resamples: int = N_RESAMPLES) -> Interval:
    """Percentile bootstrap interval of the mean of `values` (one per unit)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    n = len(values)
    if n == 0:
        raise ValueError("no units")
    rng = np.random.default_rng(seed)
    rows = max(1, _CHUNK_CELLS // n)
    means = []
    for start in range(0, n_resamples, rows):  # chunked: 16k characters x 1000 is 128 MB
        idx = rng.integers(0, n, size=(min(rows, n_resamples - start), n))
        means.append(values[idx].mean(axis=1))
    return _percentile(np.concatenate(means))


def bootstrap_statistic(
    n: int,
    statistic: Callable[[np.ndarray], float | None],
    seed: int,
    n_resamples: int = N_RESAMPLES,
) -> Interval:
    """Percentile bootstrap interval of `statistic(indices)` over n units (a resample on
    which the statistic is undefined, e.g. one class only, is left out)."""
    if n == 0:
        raise ValueError("no units")
    idx = resample_indices(n, seed, n_resamples)
    stats = np.array(
        [v if (v := statistic(row)) is not None else math.nan for row in idx], dtype=np.float64
    )
    return _percentile(stats)


def pack_outcomes(values: np.ndarray) -> dict[str, str | int]:
    """Per-unit outcomes, compactly: 0/1 values as uint8, anything else as float16, clipped
    to its finite range (an absurd answer's 1e300 bits would otherwise be stored as infinity,
    and an infinite difference counts as no difference in a tie test)."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    binary = bool(np.isin(values, (0.0, 1.0)).all())
    dtype = "uint8" if binary else "float16"
    if not binary:
        largest = float(np.finfo(np.float16).max)
        values = np.clip(values, -largest, largest)
    raw = values.astype(dtype).tobytes()
    return {"dtype": dtype, "n": int(len(values)), "b64": base64.b64encode(raw).decode("ascii")}


def unpack_outcomes(packed: dict[str, object]) -> np.ndarray:
    dtype = packed.get("dtype")
    if dtype not in ("uint8", "float16"):
        raise ValueError(f"unknown outcome dtype {dtype!r}")
    raw = base64.b64decode(str(packed["b64"]))
    values = np.frombuffer(raw, dtype=str(dtype)).astype(np.float64)
    if len(values) != packed.get("n"):
        raise ValueError("outcome count does not match")
    return values


def auc_fast(y: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties counted half: the same value
    as scikit-learn's, fast enough for a thousand resamples."""
    positives = y == 1
    n1 = int(positives.sum())
    n0 = len(y) - n1
    if n1 == 0 or n0 == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positives].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


# Metrics that are a share of successes, shown in % (the others are plain proportions).
PERCENT_PROPORTIONS = ("accuracy_LF", "accuracy_LM", "accuracy_DF", "accuracy_DM")
GROUP_SUMMARIES = ("debias_accuracy", "worst_group_accuracy", "group_accuracy_variance")


# Group ROC AUCs (each group's faces against all the non-faces) and how they are summarised.
GROUP_AUCS: dict[str, Callable[[list[float]], float]] = {
    "mean_group_auc": lambda aucs: float(np.mean(aucs)),
    "worst_group_auc": min,
}
AUC_METRICS = ("roc_auc", *GROUP_AUCS)


def _group_auc_of(
    y: np.ndarray,
    scores: np.ndarray,
    group: np.ndarray,
    groups: list[str],
    summary: Callable[[list[float]], float],
    idx: np.ndarray,
) -> float | None:
    """The summarised group AUC of the resample `idx`."""
    y, scores, group = y[idx], scores[idx], group[idx]
    aucs = []
    for g in groups:
        mask = ((y == 1) & (group == g)) | (y == 0)
        auc = auc_fast(y[mask], scores[mask])
        if auc is None:  # a resample without this group's faces or without non-faces
            return None
        aucs.append(auc)
    return summary(aucs)


def _group_summaries(correct: np.ndarray, face_groups: list[np.ndarray]) -> dict[str, float]:
    accs = [100.0 * float(correct[m].mean()) for m in face_groups]
    return {
        "debias_accuracy": float(np.mean(accs)),
        "worst_group_accuracy": float(min(accs)),
        "group_accuracy_variance": float(np.var(accs)),
    }


def classification_intervals(
    y: np.ndarray,
    scores: np.ndarray,
    group: np.ndarray | None,
    names: set[str],
    primary: str,
    seed: int,
) -> tuple[dict[str, Interval], np.ndarray]:
    """(interval of each metric in `names` that is defined here, per-example outcomes)."""
    n = len(y)
    out: dict[str, Interval] = {}
    if n == 0:
        return out, np.zeros(0)
    predicted = scores.argmax(axis=1) if scores.ndim == 2 else (scores >= 0.5).astype(np.int64)
    correct = (predicted == y).astype(np.float64)
    outcomes = correct
    if "accuracy" in names:
        out["accuracy"] = wilson(int(correct.sum()), n)
    if scores.ndim == 2:
        return out, outcomes
    if "roc_auc" in names and len(np.unique(y)) == 2:
        out["roc_auc"] = bootstrap_statistic(n, lambda i: auc_fast(y[i], scores[i]), seed)
    if group is None:
        return out, outcomes
    detected = scores >= 0.5
    faces = y == 1
    for name in PERCENT_PROPORTIONS:
        mask = faces & (group == name.removeprefix("accuracy_"))
        if name in names and mask.any():
            low, high = wilson(int(detected[mask].sum()), int(mask.sum()))
            out[name] = (100 * low, 100 * high)
    if "non_face_specificity" in names and (~faces).any():
        low, high = wilson(int((~detected[~faces]).sum()), int((~faces).sum()))
        out["non_face_specificity"] = (100 * low, 100 * high)
    groups = sorted({name.removeprefix("accuracy_") for name in PERCENT_PROPORTIONS})
    masks = [faces & (group == g) for g in groups]
    if names & set(GROUP_AUCS) and all(m.any() for m in masks) and (~faces).any():
        for name, summary in GROUP_AUCS.items():
            if name in names:
                out[name] = bootstrap_statistic(
                    n, functools.partial(_group_auc_of, y, scores, group, groups, summary), seed
                )
    if primary in AUC_METRICS:
        # An AUC is no mean over examples: there are no per-example outcomes whose paired
        # bootstrap tests it, so such a board marks no statistical ties (rather than wrong ones).
        outcomes = np.zeros(0)
    if all(m.any() for m in masks) and names & set(GROUP_SUMMARIES):
        draws = resample_indices(n, seed)
        rows = []
        for idx in draws:
            sub = [m[idx] for m in masks]
            if all(s.any() for s in sub):
                rows.append(_group_summaries(correct[idx], sub))
        whole = _group_summaries(correct, masks)
        # Where every face was (or none was) detected the bootstrap collapses to a point:
        # the pooled faces' Wilson bound stands in on that side.
        pooled_low, pooled_high = wilson(int(detected[faces].sum()), int(faces.sum()))
        for name in GROUP_SUMMARIES:
            if name not in names:
                continue
            low, high = _percentile(np.array([r[name] for r in rows], dtype=np.float64))
            if name != "group_accuracy_variance":
                if whole[name] >= 100.0 and low >= 100.0:
                    low = 100 * pooled_low
                if whole[name] <= 0.0 and high <= 0.0:
                    high = 100 * pooled_high
            out[name] = (low, high)
        if primary == "debias_accuracy":
            # Each face's share of the mean of group accuracies: its mean is the metric.
            weights = np.zeros(n)
            for m in masks:
                weights[m] = 100.0 * n / (len(masks) * int(m.sum()))
            outcomes = correct * weights
    return out, outcomes


def mean_intervals(
    name: str, values: np.ndarray, seed: int
) -> tuple[dict[str, Interval], np.ndarray]:
    """A metric that is the mean of per-unit values (bits per scored character, the return of
    each episode): its bootstrap interval, and the values as the outcomes."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0:
        return {}, values
    return {name: bootstrap_mean(values, seed)}, values


def return_intervals(
    returns: list[float], names: set[str], seed: int
) -> tuple[dict[str, Interval], np.ndarray]:
    """Episodes: the mean return's and the return spread's intervals, the returns as
    outcomes (episodes are played from the same seeds for everyone, so they pair up)."""
    values = np.asarray(returns, dtype=np.float64)
    out: dict[str, Interval] = {}
    if len(values) == 0:
        return out, values
    if "mean_return" in names:
        out["mean_return"] = bootstrap_mean(values, seed)
    if "std_return" in names:
        out["std_return"] = bootstrap_statistic(
            len(values), lambda i: float(np.std(values[i])), seed
        )
    return out, values


def as_json(intervals: dict[str, Interval]) -> dict[str, list[float]]:
    """Finite intervals as [low, high] lists (what the report and the platform store)."""
    return {
        k: [float(lo), float(hi)]
        for k, (lo, hi) in intervals.items()
        if math.isfinite(lo) and math.isfinite(hi)
    }


def paired_resampled_means(
    outcomes: np.ndarray, seed: int, n_resamples: int = N_RESAMPLES
) -> np.ndarray:
    """[runs, n_resamples] means of each run's outcomes ([runs, units]) over the SAME bootstrap
    draws of the units: the difference of two rows is a paired bootstrap of their difference."""
    runs, n = outcomes.shape
    if n == 0:
        raise ValueError("no units")
    rng = np.random.default_rng(seed)
    means = np.empty((runs, n_resamples), dtype=np.float64)
    rows = max(1, _CHUNK_CELLS // n)
    matrix = outcomes.astype(np.float32)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        counts = rng.multinomial(n, np.full(n, 1.0 / n), size=stop - start).astype(np.float32)
        means[:, start:stop] = (matrix @ counts.T) / n
    return means


def differs(means_a: np.ndarray, means_b: np.ndarray) -> bool:
    """Whether two runs' paired resampled means differ at 95 %: the percentile interval of
    the difference leaves out 0."""
    low, high = _percentile(means_a - means_b)
    return bool(low > 0 or high < 0)
