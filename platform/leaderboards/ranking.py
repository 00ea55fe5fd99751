"""The ONE place a leaderboard is ordered: a pure function of rows and the lab spec (ranks
come from the judging kernel's competition ranking, as everywhere).

Competition ranking: rows whose ranking metrics (primary, then the spec's tie-breaks) are all
equal share a rank and the next rank skips (1, 2, 2, 4). Rows without the primary metric come
last, unranked. Reference rows (baselines) sit where their score falls but take no rank.
"""

from dataclasses import dataclass, field

from core.scoring import competition_ranks
from grader.specs import LabSpec


@dataclass(frozen=True)
class Row:
    key: str  # stable identity: "user:<id>" or "baseline:<id>"
    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    eligible: bool = False
    verified: bool = False  # the affiliation comes from the roster or SSO, not the person
    is_reference: bool = False
    entry_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class RankedRow:
    row: Row
    rank: int | None  # None: a reference row, or no score yet
    tied: bool = False


def rank_rows(rows: list[Row], spec: LabSpec) -> list[RankedRow]:
    primary = spec.ranking.primary
    # Each row's sort key once: this runs over every student of a lab on each request.
    keyed = [(spec.sort_key(r.metrics), r) for r in rows if r.metrics.get(primary) is not None]
    unscored = [r for r in rows if r.metrics.get(primary) is None]
    # At equal scores a student comes before a reference row; names keep the order stable.
    keyed.sort(key=lambda kr: (kr[0], kr[1].is_reference, kr[1].name, kr[1].key))
    ranks = iter(competition_ranks([key for key, r in keyed if not r.is_reference]))
    ranked = []
    for _, row in keyed:
        if row.is_reference:
            ranked.append(RankedRow(row, None))
            continue
        rank, tied = next(ranks)
        ranked.append(RankedRow(row, rank, tied=tied))
    unscored.sort(key=lambda r: (r.is_reference, r.name, r.key))
    return ranked + [RankedRow(row, None) for row in unscored]
