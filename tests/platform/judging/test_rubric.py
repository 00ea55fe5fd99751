"""The rubric combination on its own: equal weights, judges' means, exact ties."""

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from judging.rubric import Ballot, Finalist, combine


def _f(entry_id, results, name=None):
    return Finalist(f"user:{entry_id}", name or f"s{entry_id}", True, entry_id, results)


def test_combined_is_the_mean_of_the_three_criteria_with_judges_averaged():
    [result] = combine([_f(1, 4)], [Ballot(1, 10, 5, 3), Ballot(1, 11, 4, 4)])
    assert result.soundness == Fraction(9, 2) and result.descriptions == Fraction(7, 2)
    assert result.combined == (4 + Fraction(9, 2) + Fraction(7, 2)) / 3 == 4
    assert result.judge_ids == [10, 11] and result.rank == 1


def test_incomplete_ballots_do_not_count_and_unjudged_finalists_are_unranked():
    results = combine(
        [_f(1, 5), _f(2, 3), _f(3, None)],
        [Ballot(1, 10, 5, None), Ballot(2, 10, 3, 3), Ballot(3, 10, 5, 5)],
    )
    assert [(r.finalist.entry_id, r.rank) for r in results] == [(2, 1), (1, None), (3, None)]


def test_equal_combined_scores_share_a_rank_exactly():
    # 5 + 2 + 2 = 9 and 3 + 3 + 3 = 9: a tie in exact arithmetic; then 1 + 1 + 1.
    results = combine(
        [_f(1, 5, "a"), _f(2, 3, "b"), _f(3, 1, "c")],
        [Ballot(1, 10, 2, 2), Ballot(2, 10, 3, 3), Ballot(3, 10, 1, 1)],
    )
    assert [(r.finalist.name, r.rank, r.tied) for r in results] == [
        ("a", 1, True),
        ("b", 1, True),
        ("c", 3, False),
    ]


@given(
    st.lists(
        st.tuples(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5)), min_size=1, max_size=6
    )
)
def test_combined_stays_within_one_to_five(ballots):
    [result] = combine([_f(1, 3)], [Ballot(1, j, s, d) for j, (_, s, d) in enumerate(ballots)])
    assert 1 <= result.combined <= 5
