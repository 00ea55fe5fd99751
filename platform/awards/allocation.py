"""Prize allocation from confirmed standings: a pure function, so it can be tested alone.

Entrants come ranked (competition ranking: equal scores share a rank). Prizes are given in
rank order, one unit at a time, skipping entrants who may not win. A tie matters when the
tied entrants would get different things (different prizes, or some a prize and some none);
such a tie blocks confirmation until staff order the tied entrants.
"""

from dataclasses import dataclass, field
from itertools import groupby


@dataclass(frozen=True)
class Entrant:
    key: str  # stable identity, e.g. "user:12" or "group:3"
    name: str
    rank: int
    eligible: bool
    score: str  # as shown to people, e.g. "4.667 (14/3)" or "87.5"
    emails: tuple[str, ...] = ()


@dataclass(frozen=True)
class PrizeUnits:
    name: str
    quantity: int


@dataclass(frozen=True)
class Award:
    prize: str
    entrant: Entrant


@dataclass
class Allocation:
    awards: list[Award] = field(default_factory=list)
    skipped: list[Entrant] = field(default_factory=list)  # ranked high enough, not eligible
    ties: list[list[Entrant]] = field(default_factory=list)  # unresolved ties that matter

    @property
    def blocked(self) -> bool:
        return bool(self.ties)


def allocate(
    entrants: list[Entrant], prizes: list[PrizeUnits], tie_orders: dict[frozenset, list[str]]
) -> Allocation:
    """Give `prizes` (in order) to `entrants`; `tie_orders` maps a tied set of keys to the
    order staff chose for them."""
    units = [p.name for p in prizes for _ in range(p.quantity)]
    result = Allocation()
    given = 0
    ranked = sorted(entrants, key=lambda e: (e.rank, e.name))
    for _, same_rank in groupby(ranked, key=lambda e: e.rank):
        group = list(same_rank)
        if given >= len(units):
            break
        eligible = [e for e in group if e.eligible]
        result.skipped.extend(e for e in group if not e.eligible)
        if not eligible:
            continue
        share = units[given : given + len(eligible)]
        different = len(share) < len(eligible) or len(set(share)) > 1
        if len(eligible) > 1 and different:
            order = tie_orders.get(frozenset(e.key for e in eligible))
            if order is None:
                result.ties.append(eligible)
                given += len(share)
                continue
            by_key = {e.key: e for e in eligible}
            eligible = [by_key[key] for key in order]
        for prize, entrant in zip(share, eligible, strict=False):
            result.awards.append(Award(prize, entrant))
        given += len(share)
    return result
