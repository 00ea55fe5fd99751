"""The lab rubric's combination, in exact arithmetic (a pure function, tested alone).

Three criteria, each 1-5, weigh the same:
  1. strength and quality of final results: from the automatic metric (spec.rubric.score);
  2. soundness of implementation and approach: the mean over the judges;
  3. thoroughness and quality of descriptions and figures: the mean over the judges.
Combined score = (criterion 1 + mean criterion 2 + mean criterion 3) / 3. Only complete
ballots count; a finalist without one (or without a result) is not ranked. Fractions keep
ties exact, and equal scores share a rank (1, 2, 2, 4).
"""

from dataclasses import dataclass, field
from fractions import Fraction

from core.scoring import competition_ranks, exact_mean

COMBINATION = (
    "Combined score = (criterion 1 + judges' mean of criterion 2 + judges' mean of "
    "criterion 3) / 3, each criterion 1-5, so the three criteria weigh the same."
)


@dataclass(frozen=True)
class Finalist:
    key: str
    name: str
    eligible: bool
    entry_id: int
    results: int | None  # criterion 1, 1-5


@dataclass(frozen=True)
class Ballot:
    entry_id: int
    judge_id: int
    soundness: int | None
    descriptions: int | None


@dataclass
class FinalistResult:
    finalist: Finalist
    judge_ids: list[int] = field(default_factory=list)
    soundness: Fraction | None = None
    descriptions: Fraction | None = None
    combined: Fraction | None = None
    rank: int | None = None
    tied: bool = False


def combine(finalists: list[Finalist], ballots: list[Ballot]) -> list[FinalistResult]:
    results = {f.entry_id: FinalistResult(f) for f in finalists}
    complete: dict[int, list[tuple[int, int, int]]] = {}  # (judge, soundness, descriptions)
    for ballot in ballots:
        sound, desc = ballot.soundness, ballot.descriptions
        if ballot.entry_id in results and sound is not None and desc is not None:
            complete.setdefault(ballot.entry_id, []).append((ballot.judge_id, sound, desc))
    for entry_id, result in results.items():
        counted = complete.get(entry_id, [])
        result.judge_ids = [judge_id for judge_id, _, _ in counted]
        if not counted:
            continue
        soundness = exact_mean(s for _, s, _ in counted)
        descriptions = exact_mean(d for _, _, d in counted)
        # Means of a non-empty list always exist.
        assert soundness is not None and descriptions is not None
        result.soundness, result.descriptions = soundness, descriptions
        if result.finalist.results is not None:
            result.combined = exact_mean([result.finalist.results, soundness, descriptions])

    scored = [(r, r.combined) for r in results.values() if r.combined is not None]
    ranked = [r for r, _ in scored]
    ranks = competition_ranks([-combined for _, combined in scored])  # higher is better
    for result, (rank, tied) in zip(ranked, ranks, strict=True):
        result.rank, result.tied = rank, tied
    ranked.sort(key=lambda r: (r.rank, r.finalist.name, r.finalist.key))
    unranked = sorted(
        (r for r in results.values() if r.combined is None),
        key=lambda r: (r.finalist.name, r.finalist.key),
    )
    return ranked + unranked
