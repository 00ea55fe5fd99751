import math

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from grader import metrics as M


def test_roc_auc_matches_sklearn_and_is_undefined_for_one_class():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 50)
    s = rng.uniform(size=50)
    value, _ = M.roc_auc(y, s)
    assert value == pytest.approx(roc_auc_score(y, s))
    value, why = M.roc_auc(np.ones(5), s[:5])
    assert value is None and "only one class" in why
    ms = M.classification_metrics(np.ones(5, dtype=int), s[:5], {"roc_auc", "accuracy"})
    assert "roc_auc" not in ms.values and "roc_auc" in ms.undefined


def test_accuracy_matches_sklearn_binary_and_multiclass():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, 40)
    scores = rng.normal(size=(40, 10))
    ms = M.classification_metrics(y, scores, {"accuracy"})
    assert ms.values["accuracy"] == pytest.approx(accuracy_score(y, scores.argmax(1)))
    yb = rng.integers(0, 2, 40)
    p = rng.uniform(size=40)
    ms = M.classification_metrics(yb, p, {"accuracy"})
    assert ms.values["accuracy"] == pytest.approx(accuracy_score(yb, p >= 0.5))


def test_debias_metrics_by_hand():
    group = np.array(["LF"] * 2 + ["LM"] * 2 + ["DF"] * 2 + ["DM"] * 2 + [""] * 4)
    y = (group != "").astype(int)
    # LF 2/2, LM 1/2, DF 2/2, DM 0/2 detected; non-faces: 3 of 4 rejected
    s = np.array([0.9, 0.8, 0.9, 0.1, 0.6, 0.7, 0.2, 0.3, 0.1, 0.2, 0.4, 0.9])
    ms = M.debias_metrics(y, s, group).values
    accs = [100.0, 50.0, 100.0, 0.0]
    assert [ms[f"accuracy_{g}"] for g in ("LF", "LM", "DF", "DM")] == accs
    assert ms["debias_accuracy"] == 62.5
    mean = 62.5
    assert ms["group_accuracy_variance"] == pytest.approx(sum((a - mean) ** 2 for a in accs) / 4)
    assert ms["worst_group_accuracy"] == 0.0
    assert ms["non_face_specificity"] == 75.0


def test_debias_group_missing_is_undefined_not_zero():
    group = np.array(["LF", "LM", "DF", ""])
    ms = M.debias_metrics(np.array([1, 1, 1, 0]), np.array([0.9, 0.9, 0.9, 0.1]), group)
    assert "accuracy_DM" in ms.undefined and "debias_accuracy" in ms.undefined
    assert "debias_accuracy" not in ms.values


def test_target_bits_by_hand_and_renormalised():
    V = 4
    targets = np.array([[1, 2, 3, -1]])
    p = np.full((1, 4, V), 0.1)
    for t, c in enumerate(targets[0, :3]):
        p[0, t, c] = 0.7
    bits = M.target_bits(np.log(p), targets)
    assert bits.shape == (1, 4) and np.isnan(bits[0, 3])  # no target: not scored
    assert bits[0, :3] == pytest.approx([-math.log2(0.7)] * 3)
    # logits (shifted log-probs) score the same; unnormalised zeros cannot score 0 bits
    assert M.target_bits(np.log(p) + 5.0, targets)[0, :3] == pytest.approx(bits[0, :3])
    assert M.target_bits(np.zeros((1, 4, V)), targets)[0, :3] == pytest.approx([2.0] * 3)


@pytest.mark.parametrize(
    "row",
    [
        [1e308, -1e308, -1e308],  # the target at -1e308 after a softmax: probability 0
        [np.inf, 0.0, 0.0],
        [np.nan, 0.0, 0.0],
        [-np.inf, -np.inf, -np.inf],
        [0.0, -np.inf, 0.0],
    ],
)
def test_target_bits_of_extreme_scores_are_never_finite(row):
    bits = M.target_bits(np.array([row]), np.array([1]))
    assert not np.isfinite(bits[0])


def test_group_auc_by_hand():
    # Non-faces score 0.2, 0.4 and 0.6. LF faces 0.9 and 0.5: pairs above the non-faces are
    # 3 + 2 of 6 -> 5/6. LM 0.3: above 1 of 3 -> 1/3. DF 0.4: above 0.2, tied with 0.4
    # (half), below 0.6 -> 1.5/3 = 0.5. DM 0.7: above all -> 1.
    y = np.array([0, 0, 0, 1, 1, 1, 1, 1])
    group = np.array(["", "", "", "LF", "LF", "LM", "DF", "DM"])
    scores = np.array([0.2, 0.4, 0.6, 0.9, 0.5, 0.3, 0.4, 0.7])
    by_group = M.group_aucs(y, scores, group)
    assert {g: v for g, (v, _) in by_group.items()} == pytest.approx(
        {"LF": 5 / 6, "LM": 1 / 3, "DF": 0.5, "DM": 1.0}
    )
    ms = M.debias_metrics(y, scores, group).values
    assert ms["mean_group_auc"] == pytest.approx((5 / 6 + 1 / 3 + 0.5 + 1.0) / 4)
    assert ms["worst_group_auc"] == pytest.approx(1 / 3)


@pytest.mark.parametrize("value", [0.0, 0.3, 0.7, 1.0])
def test_a_constant_detector_gets_group_auc_exactly_one_half(value):
    y = np.array([0, 0, 1, 1, 1, 1, 1, 1])
    group = np.array(["", "", "LF", "LM", "DF", "DM", "DM", "LF"])
    ms = M.debias_metrics(y, np.full(8, value), group)
    assert ms.values["mean_group_auc"] == 0.5 and ms.values["worst_group_auc"] == 0.5
    # while every face counts as detected at >= 0.5: group accuracies cannot tell
    if value >= 0.5:
        assert ms.values["debias_accuracy"] == 100.0


def test_group_auc_undefined_without_non_faces_or_a_group():
    y = np.array([1, 1, 1, 1])
    group = np.array(["LF", "LM", "DF", "DM"])
    ms = M.debias_metrics(y, np.array([0.9, 0.8, 0.7, 0.6]), group)
    assert "mean_group_auc" not in ms.values and "non-face" in ms.undefined["mean_group_auc"]
    y2 = np.array([0, 1, 1, 1])
    ms2 = M.debias_metrics(y2, np.array([0.1, 0.8, 0.7, 0.6]), np.array(["", "LF", "LM", "DF"]))
    assert "no DM faces" in ms2.undefined["worst_group_auc"]


def test_return_stats_population_std():
    ms = M.return_stats([10.0, 20.0, 30.0]).values
    assert ms == {
        "mean_return": 20.0,
        "std_return": pytest.approx(np.std([10, 20, 30])),
        "episodes": 3.0,
    }


def test_abc_validity_counts_parsable_songs_with_notes():
    good = "X:1\nT:Tune\nM:6/8\nL:1/8\nK:D\nA|dfa agf|e2d cBA|\n"
    text = good + "\n" + good.replace("X:1", "X:2") + "\nX:3\nT:no notes\nK:G\n\n"
    value, n = M.abc_validity(text)
    assert n == 3 and value == pytest.approx(2 / 3)
    assert M.abc_validity("") == (None, 0)
