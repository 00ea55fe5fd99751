"""The ONE place a leaderboard is ordered: a pure function of rows and the lab spec (ranks
come from the judging kernel's competition ranking, as everywhere).

Competition ranking: rows whose ranking metrics (primary, then the spec's tie-breaks) are all
equal share a rank and the next rank skips (1, 2, 2, 4). Rows without the primary metric come
last, unranked. Reference rows (baselines) sit where their score falls but take no rank.
"""

from dataclasses import dataclass, field, replace

import numpy as np

from core.scoring import anchored_tie_groups, competition_ranks
from grader import intervals
from grader.specs import LabSpec


@dataclass(frozen=True)
class Row:
    key: str  # stable identity: "user:<id>" or "baseline:<id>"
    name: str
    metrics: dict[str, float] = field(default_factory=dict)
    # {metric: [low, high]}: the 95 % interval the grader stored with the run
    intervals: dict[str, list[float]] = field(default_factory=dict)
    # the run's packed per-unit outcomes on this split (the paired test of statistical ties)
    outcomes: dict | None = field(default=None, compare=False, repr=False)
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
    # Statistical tie: the official rank of the leader of this row's group, when the group
    # has more than one student (their differences are not significant); else None.
    tie_leader: int | None = None
    # On the private split: the student's public rank (their change after the reveal).
    public_rank: int | None = None
    far_drop: bool = False  # far better in public than in private (far_better_in_public)

    @property
    def rank_change(self) -> int | None:
        """Places gained from the public to the private standings (negative: lost)."""
        if self.rank is None or self.public_rank is None:
            return None
        return self.public_rank - self.rank


# A drop from the public to the private standings this large (in places, and as a share of
# the ranked students) is flagged: the entry was likely tuned to the public split.
FAR_DROP_PLACES = 5
FAR_DROP_SHARE = 0.10


def far_better_in_public(change: int | None, ranked: int) -> bool:
    """Whether a public rank was far better than the private one (see FAR_DROP_*)."""
    if change is None:
        return False
    return -change >= max(FAR_DROP_PLACES, FAR_DROP_SHARE * ranked)


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


def mark_statistical_ties(ranked: list[RankedRow], seed: int) -> list[RankedRow]:
    """Mark groups of ranked students whose differences are not significant: a paired
    bootstrap of their per-unit outcomes on the same hidden examples (or episodes), every
    group anchored on its leader (core.scoring.anchored_tie_groups). A student without
    comparable outcomes (none stored, another hidden set) leads a group of their own."""
    students = [i for i, r in enumerate(ranked) if r.rank is not None and r.row.outcomes]
    if len(students) < 2:
        return ranked
    values = [intervals.unpack_outcomes(ranked[i].row.outcomes or {}) for i in students]
    sizes = [len(v) for v in values]
    n = max(set(sizes), key=sizes.count)  # the hidden set most rows were scored on
    comparable = [size == n for size in sizes]
    matrix = np.stack([v if ok else np.zeros(n) for v, ok in zip(values, comparable, strict=True)])
    means = intervals.paired_resampled_means(matrix, seed)

    def differs(a: int, b: int) -> bool:
        if not (comparable[a] and comparable[b]):
            return True
        return intervals.differs(means[a], means[b])

    leaders = anchored_tie_groups(len(students), differs)
    sizes_of: dict[int, int] = {}
    for leader in leaders:
        sizes_of[leader] = sizes_of.get(leader, 0) + 1
    out = list(ranked)
    for position, leader in zip(range(len(students)), leaders, strict=True):
        if sizes_of[leader] > 1:
            i = students[position]
            out[i] = replace(out[i], tie_leader=ranked[students[leader]].rank)
    return out
