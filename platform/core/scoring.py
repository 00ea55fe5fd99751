"""The judging kernel: the pure rules every ranking and every judge's score goes through.

Lab leaderboards, lab judging, pitch judging and the awards all use these, so a score is
parsed, averaged, ranked and shown the same way everywhere. Plain Python (no database):
each rule is tested alone.

- A judge's score for a criterion is a whole number from 1 to 5 (or none yet).
- Means are exact fractions, so two results at 11/3 are tied, not split by a rounding error.
- Competition ranking: equal keys share a rank and the next rank skips (1, 1, 3).
- A fraction reads "3.667 (11/3)": the decimal for people, the exact value for checking.
- A metric reads "0.912", a whole count "5" (metric_text).
"""

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

SCORE_MIN, SCORE_MAX = 1, 5
SCORE_CHOICES = [(n, str(n)) for n in range(SCORE_MIN, SCORE_MAX + 1)]

# A judge's ballot, wherever it is shown (a judge's queue, staff's progress grid).
TO_SCORE, PARTIAL, COMPLETE = "to score", "partial", "complete"


class ScoreInvalid(ValueError):
    """Not a score from 1 to 5; the message says what a score is."""


def parse_score(value: object) -> int | None:
    """A criterion score from a form or JSON: a whole number 1-5, or empty (None) to clear it.
    Refused: anything else, including true/false, 4.5 and "4.0"."""
    if value is None or value == "":
        return None
    message = f"Scores are whole numbers from {SCORE_MIN} to {SCORE_MAX}."
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ScoreInvalid(message)
    try:
        number = int(value)
    except ValueError:
        raise ScoreInvalid(message) from None
    if str(number) != str(value).strip() or not SCORE_MIN <= number <= SCORE_MAX:
        raise ScoreInvalid(message)
    return number


def exact_mean(values: Iterable[int | Fraction]) -> Fraction | None:
    """The mean as an exact fraction; None for no values."""
    values = list(values)
    if not values:
        return None
    return sum((Fraction(v) for v in values), Fraction(0)) / len(values)


def ballot_state(scores: Sequence[int | None] | None) -> str:
    """A judge's ballot: not started, partial (does not count yet) or complete."""
    if scores is None:
        return TO_SCORE
    return COMPLETE if all(s is not None for s in scores) else PARTIAL


def competition_ranks(keys: Sequence[Any]) -> list[tuple[int, bool]]:
    """(rank, tied) for each key, in the order given: the lowest key ranks first; equal keys
    share a rank and the next rank skips (1, 1, 3). Pass -score where higher is better."""
    ordered = sorted(keys)
    ranks = []
    for key in keys:
        first, after = bisect_left(ordered, key), bisect_right(ordered, key)
        ranks.append((first + 1, after - first > 1))
    return ranks


def anchored_tie_groups(count: int, differs: Callable[[int, int], bool]) -> list[int]:
    """Statistical ties down a ranked list of `count`: each position's group leader (its
    position). The first leads; each next one joins the current leader's group unless
    `differs(leader, it)`, and then leads a new group. Each is compared with its group's
    leader, not with its neighbour, so small overlaps cannot chain a whole board into one tie.
    The official rank is untouched (competition_ranks): this only says which gaps are noise."""
    leaders: list[int] = []
    leader = 0
    for position in range(count):
        if position and differs(leader, position):
            leader = position
        leaders.append(leader)
    return leaders


@dataclass
class JudgeStats:
    judge_id: int
    count: int
    mean: Fraction
    spread: float  # population standard deviation of the judge's scores
    lowest: Fraction
    highest: Fraction


@dataclass
class ItemDiagnostics:
    """How a judged item's scores agree: the range of its judges' scores, and the mean of
    their z-scores (each score against that judge's own mean and spread)."""

    disagreement: Fraction
    mean_z: float


def judge_diagnostics(
    scores: Iterable[tuple[Any, int, Fraction]],
) -> tuple[dict[int, JudgeStats], dict[Any, ItemDiagnostics]]:
    """Staff diagnostics of any judging (pitches, lab entries) from complete scores
    (item, judge, score): per judge mean and spread, per item disagreement and mean z."""
    by_judge: dict[int, list[Fraction]] = {}
    by_item: dict[Any, list[tuple[int, Fraction]]] = {}
    for item, judge_id, score in scores:
        by_judge.setdefault(judge_id, []).append(score)
        by_item.setdefault(item, []).append((judge_id, score))
    judges = {}
    for judge_id, values in by_judge.items():
        mean = exact_mean(values)
        assert mean is not None, "a judge listed here scored at least one item"
        variance = sum((v - mean) ** 2 for v in values) / len(values)
        judges[judge_id] = JudgeStats(
            judge_id, len(values), mean, math.sqrt(variance), min(values), max(values)
        )
    items = {}
    for item, scored in by_item.items():
        zs = []
        for judge_id, score in scored:
            stats = judges[judge_id]
            # A judge who gave everyone the same score says nothing about relative quality.
            zs.append(float(score - stats.mean) / stats.spread if stats.spread else 0.0)
        values = [score for _, score in scored]
        items[item] = ItemDiagnostics(max(values) - min(values), sum(zs) / len(zs))
    return judges, items


def fraction_text(value: Fraction | None) -> str:
    """How a fraction reads on every page, CSV and award: "4", or "3.667 (11/3)"."""
    if value is None:
        return ""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.3f} ({value.numerator}/{value.denominator})"


def fraction_exact(value: Fraction | None) -> str:
    """The exact value for machines (the API): "4", or "11/3"."""
    return "" if value is None else str(value)


def metric_text(value: float, integer: bool = False) -> str:
    """How a metric's value reads on every page (entry, leaderboard, judging): three
    decimals, or a whole count (a lab spec's `integer` metric, e.g. episodes) as a whole
    number. CSV exports keep the stored value."""
    if integer and float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}"
