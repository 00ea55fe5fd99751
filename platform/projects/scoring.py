"""The course's pitch aggregation, in exact arithmetic, plus staff-only diagnostics.

A judge's score for a group is the mean of its three criteria; a group's final score is
the mean over its judges. Only complete ballots count. Fractions keep ties exact: two
groups at 11/3 are tied, not separated by a rounding error.
"""

from dataclasses import dataclass, field
from fractions import Fraction

from core.scoring import JudgeStats, competition_ranks, exact_mean, judge_diagnostics


@dataclass(frozen=True)
class GroupInput:
    group_id: int
    name: str
    eligible: bool


@dataclass(frozen=True)
class BallotInput:
    group_id: int
    judge_id: int
    score: Fraction | None  # None when the ballot is incomplete


@dataclass
class GroupResult:
    group_id: int
    name: str
    eligible: bool
    judge_scores: dict[int, Fraction] = field(default_factory=dict)
    incomplete_ballots: int = 0
    final: Fraction | None = None
    insufficient: bool = True
    rank: int | None = None
    tied: bool = False
    disagreement: Fraction | None = None
    mean_z: float | None = None
    z_rank: int | None = None

    @property
    def judges_counted(self) -> int:
        return len(self.judge_scores)


@dataclass
class Standings:
    groups: list[GroupResult]  # ranked groups first (by rank, then name), then insufficient
    judges: dict[int, JudgeStats]
    min_judges: int


def compute_standings(
    groups: list[GroupInput], ballots: list[BallotInput], min_judges: int
) -> Standings:
    by_id = {g.group_id: GroupResult(g.group_id, g.name, g.eligible) for g in groups}
    for ballot in ballots:
        result = by_id.get(ballot.group_id)
        if result is None:
            continue
        if ballot.score is None:
            result.incomplete_ballots += 1
            continue
        result.judge_scores[ballot.judge_id] = ballot.score

    judges, items = judge_diagnostics(
        (r.group_id, judge_id, score)
        for r in by_id.values()
        for judge_id, score in r.judge_scores.items()
    )
    for result in by_id.values():
        scores = list(result.judge_scores.values())
        if scores:
            result.final = exact_mean(scores)
            result.disagreement = items[result.group_id].disagreement
            result.mean_z = items[result.group_id].mean_z
        result.insufficient = len(scores) < max(min_judges, 1)

    ranked = [r for r in by_id.values() if not r.insufficient]
    finals, mean_zs = [], []
    for result in ranked:
        # Enough judges means at least one score, so both are set.
        assert result.final is not None and result.mean_z is not None
        finals.append(result.final)
        mean_zs.append(result.mean_z)
    ranks = competition_ranks([-final for final in finals])  # higher is better
    for result, (rank, tied) in zip(ranked, ranks, strict=True):
        result.rank, result.tied = rank, tied
    z_ranks = competition_ranks([-z for z in mean_zs])
    for result, (rank, _) in zip(ranked, z_ranks, strict=True):
        result.z_rank = rank

    insufficient = sorted((r for r in by_id.values() if r.insufficient), key=lambda r: r.name)
    ranked.sort(key=lambda r: (r.rank, r.name))
    return Standings(groups=ranked + insufficient, judges=judges, min_judges=min_judges)
