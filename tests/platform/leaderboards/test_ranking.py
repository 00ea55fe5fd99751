"""The one ranking function: competition ranks, tie-breaks from the spec, unscored last,
reference rows unranked. Examples, then properties checked by hypothesis."""

from hypothesis import given
from hypothesis import strategies as st

from grader.specs import load_spec
from leaderboards.ranking import Row, rank_rows

DEBIAS = load_spec("lab2-debias")  # debias_accuracy (higher), then worst group, then roc_auc
MUSIC = load_spec("lab1-music")  # bits_per_char, lower is better


def _row(key, **metrics):
    return Row(key=key, name=key, metrics=metrics)


def _ranks(rows, spec=DEBIAS):
    return [(r.row.key, r.rank) for r in rank_rows(rows, spec)]


def test_equal_scores_share_a_rank_and_the_next_rank_skips():
    rows = [
        _row("c", debias_accuracy=80.0),
        _row("a", debias_accuracy=90.0),
        _row("b", debias_accuracy=80.0),
        _row("d", debias_accuracy=70.0),
    ]
    assert _ranks(rows) == [("a", 1), ("b", 2), ("c", 2), ("d", 4)]
    assert [r.tied for r in rank_rows(rows, DEBIAS)] == [False, True, True, False]


def test_tie_breaks_come_from_the_spec_in_order():
    rows = [
        _row("low-worst", debias_accuracy=80.0, worst_group_accuracy=60.0, roc_auc=0.99),
        _row("high-worst", debias_accuracy=80.0, worst_group_accuracy=70.0, roc_auc=0.5),
        _row("same-worst-better-auc", debias_accuracy=80.0, worst_group_accuracy=60.0, roc_auc=1.0),
    ]
    assert _ranks(rows) == [("high-worst", 1), ("same-worst-better-auc", 2), ("low-worst", 3)]


def test_lower_is_better_metrics_rank_ascending():
    rows = [_row("worse", bits_per_char=3.0), _row("better", bits_per_char=2.1)]
    assert _ranks(rows, MUSIC) == [("better", 1), ("worse", 2)]


def test_students_without_a_score_come_last_unranked_even_with_other_metrics():
    rows = [
        _row("nothing"),
        _row("no-primary", worst_group_accuracy=99.0),
        _row("scored", debias_accuracy=10.0),
    ]
    assert _ranks(rows) == [("scored", 1), ("no-primary", None), ("nothing", None)]


def test_reference_rows_sit_at_their_score_and_take_no_rank():
    rows = [
        _row("a", debias_accuracy=90.0),
        Row(
            key="baseline:1", name="Baseline", metrics={"debias_accuracy": 85.0}, is_reference=True
        ),
        _row("b", debias_accuracy=80.0),
        _row("c", debias_accuracy=85.0),
    ]
    assert _ranks(rows) == [("a", 1), ("c", 2), ("baseline:1", None), ("b", 3)]


scores = st.one_of(st.none(), st.sampled_from([50.0, 60.0, 70.0, 70.0, 80.0]))
rows_strategy = st.lists(
    st.builds(
        lambda i, primary, worst, ref: (i, primary, worst, ref),
        st.integers(0, 10_000),
        scores,
        scores,
        st.booleans(),
    ),
    max_size=25,
    unique_by=lambda t: t[0],
)


def _build(raw):
    rows = []
    for i, primary, worst, ref in raw:
        metrics = {}
        if primary is not None:
            metrics["debias_accuracy"] = primary
        if worst is not None:
            metrics["worst_group_accuracy"] = worst
        rows.append(Row(key=f"k{i}", name=f"n{i % 7}", metrics=metrics, is_reference=ref))
    return rows


@given(rows_strategy)
def test_ranking_properties(raw):
    rows = _build(raw)
    out = rank_rows(rows, DEBIAS)
    assert sorted(r.row.key for r in out) == sorted(r.key for r in rows)  # nothing lost
    ranked = [r for r in out if r.rank is not None]
    assert all(not r.row.is_reference for r in ranked)
    # Every ranked row comes before every row without a primary score.
    seen_unscored = False
    for r in out:
        has = r.row.metrics.get("debias_accuracy") is not None
        seen_unscored = seen_unscored or not has
        assert not (seen_unscored and has)
    # Competition ranking: rank = 1 + number of competitors strictly better.
    keys = [DEBIAS.sort_key(r.row.metrics) for r in ranked]
    for r, key in zip(ranked, keys, strict=True):
        assert r.rank == 1 + sum(1 for k in keys if k < key)
        assert r.tied == (sum(1 for k in keys if k == key) > 1)
    # Ranks never decrease down the table.
    assert [r.rank for r in ranked] == sorted(r.rank for r in ranked)


@given(rows_strategy, st.randoms())
def test_ranking_ignores_the_input_order(raw, random):
    rows = _build(raw)
    shuffled = list(rows)
    random.shuffle(shuffled)
    assert _ranks(rows) == _ranks(shuffled)
