"""Confidence intervals computed when a run is scored (grader/intervals.py)."""

import numpy as np
import pytest
from scipy import stats

from grader import intervals as I
from tests.grader import synth
from tests.grader.test_pipeline_batch import DEBIAS, PERFECT_MNIST


def test_wilson_by_hand():
    # 8/10: centre (0.8 + z²/20) / (1 + z²/10), half-width z·sqrt(0.016 + z²/400) / (1 + z²/10)
    low, high = I.wilson(8, 10)
    assert (low, high) == pytest.approx((0.49016, 0.94332), abs=1e-5)
    # A perfect 16/16 is not [1, 1]: the lower bound is n / (n + z²).
    low, high = I.wilson(16, 16)
    assert high == 1.0 and low == pytest.approx(16 / (16 + I.Z95**2))
    assert I.wilson(0, 16) == (0.0, pytest.approx(I.Z95**2 / (16 + I.Z95**2)))


def test_bootstrap_mean_agrees_with_scipy():
    values = np.random.default_rng(0).exponential(2.0, size=300)
    ours = I.bootstrap_mean(values, seed=1, n_resamples=4000)
    theirs = stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=4000,
        method="percentile",
        confidence_level=0.95,
        random_state=2,
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.04)
    assert ours[0] < values.mean() < ours[1]


def test_bootstrap_of_a_statistic_agrees_with_scipy():
    values = np.random.default_rng(3).normal(size=200)
    ours = I.bootstrap_statistic(len(values), lambda i: float(np.std(values[i])), 5, 4000)
    theirs = stats.bootstrap(
        (values,), np.std, n_resamples=4000, method="percentile", random_state=6
    ).confidence_interval
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.02)


def test_auc_fast_matches_scikit_learn():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 100)
    scores = np.round(rng.random(100), 1)  # many ties
    assert I.auc_fast(y, scores) == pytest.approx(roc_auc_score(y, scores))
    assert I.auc_fast(np.ones(5, dtype=int), scores[:5]) is None


@pytest.mark.parametrize("values", [[0, 1, 1, 0, 1], [0.25, 3.5, 12.0, 0.0]])
def test_outcomes_round_trip_compactly(values):
    packed = I.pack_outcomes(np.array(values))
    assert packed["dtype"] == ("uint8" if set(values) <= {0, 1} else "float16")
    assert I.unpack_outcomes(packed).tolist() == values


def test_absurd_outcomes_are_stored_finite_and_never_tie_with_a_sensible_run():
    # An entry whose log-probabilities are -1e300 scores ~1.4e300 bits per character: stored
    # as float16 that was infinity, and an infinite difference counted as no difference.
    rng = np.random.default_rng(0)
    sensible = rng.uniform(1.0, 3.0, 400)
    absurd = I.unpack_outcomes(I.pack_outcomes(np.full(400, 1.4e300)))
    assert np.isfinite(absurd).all() and (absurd == np.finfo(np.float16).max).all()
    means = I.paired_resampled_means(np.stack([sensible, absurd]), seed=1)
    assert I.differs(means[0], means[1])


def test_graded_run_carries_intervals_and_regrading_reproduces_them(graded, tmp_path):
    path = synth.write_entry(tmp_path / "d", DEBIAS)
    first, second = graded("lab2-debias", path), graded("lab2-debias", path)
    assert first.status == "scored", first.reason
    ci = first.details["intervals"]
    assert ci == second.details["intervals"] and ci["public"] and ci["private"]
    assert first.details["outcomes"] == second.details["outcomes"]
    for split in ("public", "private"):
        for name, (low, high) in ci[split].items():
            value = first.split_metrics[split][name]
            assert low <= value + 1e-9 and value <= high + 1e-9, (split, name)
    # 100 % of light faces detected: Wilson, not the collapsed [100, 100].
    assert ci["public"]["accuracy_LF"][0] < 100.0 == ci["public"]["accuracy_LF"][1]
    # Lab 2 ranks by mean_group_auc, which has an interval but no per-example outcomes (an
    # AUC is no mean over examples): its board marks no statistical ties.
    assert "mean_group_auc" in ci["public"] and "worst_group_auc" in ci["private"]
    assert first.details["outcomes"] == {}


def test_perfect_mnist_interval_is_wilson(graded, tmp_path):
    report = graded("lab2-mnist", synth.write_entry(tmp_path / "m", PERFECT_MNIST))
    low, high = report.details["intervals"]["public"]["accuracy"]
    n = int(I.unpack_outcomes(report.details["outcomes"]["public"]).size)
    assert (low, high) == pytest.approx(I.wilson(n, n)) and low < 1.0


def _debias_set(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    groups = np.array(["LF", "LM", "DF", "DM"] * 10 + [""] * 40)
    y = (groups != "").astype(np.int64)
    return y, groups


def test_group_auc_intervals_hold_the_value_and_a_constant_gets_exactly_half():
    from grader import metrics as M

    rng = np.random.default_rng(7)
    y, group = _debias_set(rng)
    names = {"mean_group_auc", "worst_group_auc"}
    scores = np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.25, len(y)), 0, 1)
    cis, _ = I.classification_intervals(y, scores, group, names, "mean_group_auc", 11)
    point = M.group_auc_metrics(y, scores, group).values
    for name in names:
        low, high = cis[name]
        assert low <= point[name] <= high and low < high
    constant, _ = I.classification_intervals(
        y, np.full(len(y), 0.7), group, names, "mean_group_auc", 11
    )
    assert constant["mean_group_auc"] == constant["worst_group_auc"] == (0.5, 0.5)


@pytest.mark.parametrize("primary", ["mean_group_auc", "roc_auc"])
def test_an_auc_ranking_gives_no_per_example_outcomes_to_tie_on(primary):
    # A mean of per-example correctness is not an AUC: a paired test on it would mark ties
    # for a metric the board is not ranked by.
    y, group = _debias_set(np.random.default_rng(3))
    scores = np.linspace(0, 1, len(y))
    names = {"roc_auc", "mean_group_auc", "debias_accuracy"}
    _, outcomes = I.classification_intervals(y, scores, group, names, primary, 5)
    assert len(outcomes) == 0
    _, by_accuracy = I.classification_intervals(y, scores, group, names, "debias_accuracy", 5)
    assert len(by_accuracy) == len(y)
