"""The judging kernel: one parser, exact mean, competition ranking and fraction format."""

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.scoring import (
    COMPLETE,
    PARTIAL,
    TO_SCORE,
    ScoreInvalid,
    ballot_state,
    competition_ranks,
    exact_mean,
    fraction_exact,
    fraction_text,
    metric_text,
    parse_score,
)


@pytest.mark.parametrize(("value", "score"), [(1, 1), (5, 5), ("3", 3), (" 4 ", 4), ("", None)])
def test_scores_are_whole_numbers_from_1_to_5_or_empty(value, score):
    assert parse_score(value) == score
    assert parse_score(None) is None


@pytest.mark.parametrize("value", [0, 6, "0", "6", "4.0", 4.5, True, False, "four", [], "٣"])
def test_anything_else_is_refused_with_what_a_score_is(value):
    with pytest.raises(ScoreInvalid, match="whole numbers from 1 to 5"):
        parse_score(value)


@given(st.lists(st.integers(1, 5), max_size=20))
def test_the_mean_is_exact(values):
    assert exact_mean(values) == (Fraction(sum(values), len(values)) if values else None)


@given(st.lists(st.fractions(), max_size=30))
def test_competition_ranking_for_any_keys(keys):
    ranks = competition_ranks(keys)
    for key, (rank, tied) in zip(keys, ranks, strict=True):
        assert rank == 1 + sum(1 for other in keys if other < key)
        assert tied == (sum(1 for other in keys if other == key) > 1)


def test_equal_scores_share_a_rank_and_the_next_skips():
    assert competition_ranks([-5, -5, -3]) == [(1, True), (1, True), (3, False)]


def test_one_format_for_every_fraction():
    assert fraction_text(Fraction(11, 3)) == "3.667 (11/3)"
    assert fraction_text(Fraction(4)) == "4"
    assert fraction_text(None) == ""
    assert fraction_exact(Fraction(11, 3)) == "11/3" and fraction_exact(Fraction(8, 2)) == "4"


def test_a_ballot_is_to_score_partial_or_complete():
    assert ballot_state(None) == TO_SCORE
    assert ballot_state([4, None]) == PARTIAL
    assert ballot_state([4, 2, 5]) == COMPLETE


@pytest.mark.parametrize(
    ("value", "integer", "text"),
    [
        (5.0, True, "5"),  # a whole count (episodes) reads as one
        (5.0, False, "5.000"),
        (0.91234, False, "0.912"),
        (2.5, True, "2.500"),  # not whole after all: the number is never rounded away
        (-3.0, True, "-3"),
    ],
)
def test_a_metric_reads_with_three_decimals_or_as_a_whole_count(value, integer, text):
    assert metric_text(value, integer) == text
