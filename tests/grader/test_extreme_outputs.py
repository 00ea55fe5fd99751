"""NaN and infinity never win: whatever numbers a classification entry returns (±1e308,
subnormals, NaN, ±inf, float16 or float64), its outputs are refused as invalid_output, or
every metric comes out finite, within its range, and no better than a perfect honest model.
(Next-character answers are scored step by step: tests/grader/test_stepwise*.py.)"""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.hidden import resolve_dataset
from grader.outputs import OutputsRefused
from grader.scoring import score_classification
from grader.specs import load_spec

EXTREMES = [
    0.0,
    1.0,
    0.5,
    -0.0,
    1e308,
    -1e308,
    5e-324,
    -5e-324,
    2.2250738585072014e-308,
    65504.0,
    -65504.0,
    np.nan,
    np.inf,
    -np.inf,
]
VALUES = st.one_of(
    st.sampled_from(EXTREMES), st.floats(allow_nan=True, allow_infinity=True, width=64)
)
RANGES = {"%": (0.0, 100.0), "%^2": (0.0, 2500.0), "": (0.0, 1.0), "fraction": (0.0, 1.0)}


def _perfect(spec, y: np.ndarray) -> np.ndarray:
    if spec.classes == 2:
        return y.astype(np.float32)
    return np.eye(spec.classes, dtype=np.float32)[y]


def _labels(dataset) -> np.ndarray:
    with np.load(dataset.labels_dir / "labels.npz") as npz:
        return npz["y"]


@pytest.fixture
def lab(monkeypatch, synth_hidden, synth_specs_dir, tmp_path_factory):
    """lab(lab_id) -> (spec, labels y, score(out) -> Scores), on the synthetic sets."""
    monkeypatch.setenv("GRADER_SPECS_DIR", str(synth_specs_dir))

    def make(lab_id: str):
        spec = load_spec(lab_id)
        dataset = resolve_dataset(spec, synth_hidden[0])
        with np.load(dataset.labels_dir / "labels.npz") as npz:
            y = npz["y"]

        def score(out: np.ndarray):
            folder: Path = tmp_path_factory.mktemp("out")
            np.save(folder / "probabilities.npy", out, allow_pickle=False)
            return score_classification(spec, dataset, folder)

        return spec, y, score

    return make


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lab_id=st.sampled_from(["lab2-debias", "lab2-mnist"]),
    width=st.sampled_from([None, 1, 2]),
    dtype=st.sampled_from([np.float16, np.float32, np.float64]),
    data=st.data(),
)
def test_extreme_outputs_are_refused_or_score_no_better_than_a_perfect_model(
    lab, lab_id, width, dtype, data
):
    spec, y, score = lab(lab_id)
    n = len(y)
    if spec.classes == 2:
        perfect = score(y.astype(np.float32))
        shape: tuple[int, ...] = (n,) if width is None else (n, width)
    else:
        perfect = score(np.eye(spec.classes, dtype=np.float32)[y])
        shape = (n, spec.classes)
    size = int(np.prod(shape))
    values = data.draw(st.lists(VALUES, min_size=size, max_size=size))
    with np.errstate(over="ignore"):
        out = np.array(values, dtype=np.float64).astype(dtype).reshape(shape)
    try:
        scores = score(out)
    except OutputsRefused as refused:
        assert not np.isfinite(out).all(), f"finite outputs refused: {refused}"
        return
    assert np.isfinite(out).all(), "non-finite outputs were scored"
    for split, metrics in {"whole": scores.metrics, **scores.split_metrics}.items():
        best = perfect.metrics if split == "whole" else perfect.split_metrics[split]
        for name, value in metrics.items():
            metric = spec.metric(name)
            low, high = RANGES[metric.unit]
            assert np.isfinite(value) and low <= value <= high, (split, name, value)
            if metric.higher_is_better:
                assert value <= best[name] + 1e-12, (split, name, value, best[name])
            else:
                assert value >= best[name] - 1e-12, (split, name, value, best[name])
