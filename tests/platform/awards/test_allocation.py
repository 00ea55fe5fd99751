"""Prize allocation as a pure function: rank order, eligibility, quantities, ties."""

from hypothesis import given
from hypothesis import strategies as st

from awards.allocation import Entrant, PrizeUnits, allocate

GPU, SPEAKERS, MONITORS = PrizeUnits("GPU", 1), PrizeUnits("Speaker", 4), PrizeUnits("Monitor", 3)


def e(key: str, rank: int, eligible: bool = True) -> Entrant:
    return Entrant(key=key, name=key, rank=rank, eligible=eligible, score=str(10 - rank))


def given_to(allocation) -> list[tuple[str, str]]:
    return [(a.prize, a.entrant.key) for a in allocation.awards]


def test_prizes_go_in_rank_order_with_quantities():
    entrants = [e(f"g{i}", i) for i in range(1, 11)]
    result = allocate(entrants, [GPU, SPEAKERS, MONITORS], {})
    assert given_to(result) == [
        ("GPU", "g1"),
        *[("Speaker", f"g{i}") for i in range(2, 6)],
        *[("Monitor", f"g{i}") for i in range(6, 9)],
    ]
    assert not result.blocked


def test_ineligible_entrants_are_skipped_not_given_a_prize():
    entrants = [e("public", 1, eligible=False), e("mit", 2), e("mit2", 3)]
    result = allocate(entrants, [PrizeUnits("Headphones", 1)], {})
    assert given_to(result) == [("Headphones", "mit")]
    assert [s.key for s in result.skipped] == ["public"]


def test_a_tie_for_different_prizes_blocks_until_ordered():
    entrants = [e("a", 1), e("b", 2), e("c", 2), e("d", 4)]
    prizes = [GPU, PrizeUnits("Speaker", 1), PrizeUnits("Monitor", 2)]
    result = allocate(entrants, prizes, {})
    assert result.blocked
    assert [[x.key for x in tie] for tie in result.ties] == [["b", "c"]]
    # The tie uses its two prizes whatever the order, so the next rank is unaffected.
    assert given_to(result) == [("GPU", "a"), ("Monitor", "d")]
    ordered = allocate(entrants, prizes, {frozenset({"b", "c"}): ["c", "b"]})
    assert not ordered.blocked
    assert given_to(ordered) == [("GPU", "a"), ("Speaker", "c"), ("Monitor", "b"), ("Monitor", "d")]


def test_a_tie_for_the_last_unit_blocks():
    result = allocate([e("a", 1), e("b", 1)], [PrizeUnits("Drone", 1)], {})
    assert result.blocked and given_to(result) == []


def test_a_tie_for_the_same_prize_does_not_block():
    result = allocate([e("a", 1), e("b", 1), e("c", 3)], [PrizeUnits("Speaker", 2)], {})
    assert not result.blocked
    assert sorted(given_to(result)) == [("Speaker", "a"), ("Speaker", "b")]


def test_an_ineligible_tie_partner_does_not_make_a_tie():
    result = allocate([e("a", 1), e("b", 1, eligible=False)], [PrizeUnits("Drone", 1)], {})
    assert not result.blocked
    assert given_to(result) == [("Drone", "a")]


@given(
    ranks=st.lists(st.integers(min_value=1, max_value=8), min_size=0, max_size=15),
    eligible=st.lists(st.booleans(), min_size=15, max_size=15),
    quantities=st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3),
)
def test_quantities_and_eligibility_always_hold(ranks, eligible, quantities):
    entrants = [e(f"x{i}", rank, eligible[i]) for i, rank in enumerate(ranks)]
    prizes = [PrizeUnits(f"p{i}", q) for i, q in enumerate(quantities)]
    result = allocate(entrants, prizes, {})
    winners = [a.entrant for a in result.awards]
    assert all(w.eligible for w in winners)
    assert len({w.key for w in winners}) == len(winners)  # nobody wins twice in a category
    for prize in prizes:
        assert sum(1 for a in result.awards if a.prize == prize.name) <= prize.quantity
    if not result.blocked:
        eligible_count = sum(1 for x in entrants if x.eligible)
        assert len(winners) == min(sum(quantities), eligible_count)
    # Better-ranked eligible entrants are never passed over for worse ones.
    if winners and not result.blocked:
        worst_winner = max(w.rank for w in winners)
        losers = [x for x in entrants if x.eligible and x not in winners]
        assert all(x.rank >= worst_winner for x in losers)
