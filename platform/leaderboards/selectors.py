from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import Role, User, affiliation_verified, lab_prize_eligible
from courses.models import Lab
from courses.phases import reveal_in_force
from grader import intervals
from grader.specs import LabSpec, MetricSpec, load_spec
from submissions.models import Entry, Participant
from submissions.splits import PRIVATE, PUBLIC, SPLITS, sees_private
from submissions.standing import scored_current_runs

from .models import BoardRow, LeaderboardBaseline
from .ranking import RankedRow, Row, mark_statistical_ties, rank_rows


@dataclass
class Leaderboard:
    lab: Lab
    spec: LabSpec
    split: str
    rows: list[RankedRow]

    @property
    def columns(self) -> tuple[MetricSpec, ...]:
        return self.spec.metrics

    @property
    def primary(self) -> MetricSpec:
        return self.spec.metric(self.spec.ranking.primary)

    @property
    def tie_break_labels(self) -> list[str]:
        return [self.spec.metric(name).label for name in self.spec.ranking.tie_breaks]

    def table(self) -> list[tuple[RankedRow, list[float | None]]]:
        """Each row with its metric values in column order, for templates and CSV."""
        names = self.spec.metric_names
        return [(r, [r.row.metrics.get(name) for name in names]) for r in self.rows]

    def table_with_intervals(self) -> list[tuple[RankedRow, list[tuple[float | None, list]]]]:
        """Each row with (value, [low, high] or []) per column, for the page."""
        names = self.spec.metric_names
        return [
            (r, [(r.row.metrics.get(name), r.row.intervals.get(name) or []) for name in names])
            for r in self.rows
        ]


def access_leaderboard(user: User, lab: Lab, split: str | None = None) -> str:
    """The one gate for reading a leaderboard: which split `user` may see (default: the
    private standings once revealed, else the public split)."""
    if not user.is_authenticated:
        raise PermissionDenied("Log in to see the leaderboards.")
    split = split or (PRIVATE if reveal_in_force(lab) and sees_private(user, lab) else PUBLIC)
    if split not in SPLITS:
        raise Http404("No such split.")
    if split == PRIVATE and not sees_private(user, lab):
        raise PermissionDenied("The private-split standings are shown after the deadline.")
    return split


def leaderboard_rows(lab: Lab, spec: LabSpec, split: str) -> list[Row]:
    rows = []
    # Plain values, not model instances: this is the hot path of a leaderboard with
    # thousands of students, and a run's logs, details and receipt can be large.
    participants = Participant.objects.filter(lab=lab, user__role=Role.STUDENT).values_list(
        "user_id",
        "user__username",
        "user__first_name",
        "user__last_name",
        "user__affiliation",
        "user__affiliation_source",
        "standing_run__entry_id",
        f"standing_run__split_metrics__{split}",  # only the split shown: less JSON to decode
        f"standing_run__split_intervals__{split}",
        f"standing_run__outcomes__{split}",
    )
    for (
        user_id,
        username,
        first,
        last,
        affiliation,
        source,
        entry_id,
        metrics,
        cis,
        outcomes,
    ) in participants:
        rows.append(
            Row(
                key=f"user:{user_id}",
                name=User.display_name(first, last, username),
                metrics=metrics or {},
                intervals=cis or {},
                outcomes=outcomes or None,
                eligible=lab_prize_eligible(affiliation, source),
                verified=affiliation_verified(source),
                entry_id=entry_id,
                user_id=user_id,
            )
        )
    baselines = list(LeaderboardBaseline.objects.filter(lab=lab))
    runs_by_entry = {
        run.entry_id: run
        for run in scored_current_runs(Entry.objects.filter(pk__in=[b.entry_id for b in baselines]))
    }
    for baseline in baselines:
        run = runs_by_entry.get(baseline.entry_id)
        rows.append(
            Row(
                key=f"baseline:{baseline.pk}",
                name=baseline.label,
                metrics=(run.split_metrics or {}).get(split, {}) if run else {},
                intervals=(run.split_intervals or {}).get(split, {}) if run else {},
                is_reference=True,
                entry_id=baseline.entry_id,
            )
        )
    return rows


def leaderboard_for(lab: Lab, split: str) -> Leaderboard:
    spec = load_spec(lab.spec_id)
    ranked = rank_rows(leaderboard_rows(lab, spec, split), spec)
    seed = intervals.seed_of(lab.edition.slug, lab.spec_id, split)
    return Leaderboard(lab, spec, split, mark_statistical_ties(ranked, seed))


def insignificant_boundaries(board: Leaderboard, places: int) -> list[tuple[RankedRow, RankedRow]]:
    """Among the first `places` prize-eligible students (and the next one), each pair of
    neighbours in the same statistical tie: a prize boundary the data cannot tell apart."""
    eligible = [r for r in board.rows if r.rank is not None and r.row.eligible][: places + 1]
    return [
        (a, b)
        for a, b in zip(eligible, eligible[1:], strict=False)
        if a.tie_leader is not None and a.tie_leader == b.tie_leader
    ]


def _board_ensure(lab: Lab, stored: int) -> None:
    """A board never ranked yet (a lab from before stored boards) is ranked once, here."""
    if stored == 0 and Participant.objects.filter(lab=lab, standing_run__isnull=False).exists():
        from .services import board_refresh

        board_refresh(lab=lab)


def _eligibility(row: BoardRow) -> tuple[bool, bool]:
    """(prize-eligible, affiliation verified) as the person's account says now: a roster
    import or an SSO login changes them without changing any standing, so they are read
    live (the user comes in the same query, joined) rather than from the stored row."""
    if row.user is None:
        return row.eligible, row.verified
    user = row.user
    return (
        lab_prize_eligible(user.affiliation, user.affiliation_source),
        affiliation_verified(user.affiliation_source),
    )


def leaderboard_stored(lab: Lab, split: str) -> Leaderboard:
    """The board as last ranked (BoardRow), for the page and the CSV: read, not ranked again
    (the paired test of statistical ties runs only when the standings change)."""
    board = BoardRow.objects.filter(lab=lab, split=split).select_related("user")
    stored = list(board.order_by("position"))
    if not stored:
        _board_ensure(lab, 0)
        stored = list(board.order_by("position"))
    rows = [
        RankedRow(
            Row(
                key=r.key,
                name=r.name,
                metrics=r.metrics,
                intervals=r.intervals,
                eligible=_eligibility(r)[0],
                verified=_eligibility(r)[1],
                is_reference=r.is_reference,
                entry_id=r.entry_id,
                user_id=r.user_id,
            ),
            r.rank,
            tied=r.tied,
            tie_leader=r.tie_leader,
            public_rank=r.public_rank,
            far_drop=r.far_drop,
        )
        for r in stored
    ]
    return Leaderboard(lab, load_spec(lab.spec_id), split, rows)


PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


def _scores(metrics: dict, cis: dict) -> dict:
    """Each metric with its 95 % interval (computed when the run was scored)."""
    return {
        name: {
            "value": value,
            "ci_low": (cis.get(name) or [None, None])[0],
            "ci_high": (cis.get(name) or [None, None])[1],
        }
        for name, value in metrics.items()
    }


def _stored_row_data(row: BoardRow) -> dict:
    return {
        "key": row.key,
        "rank": row.rank,
        "tied": row.tied,
        "name": row.name,
        "reference": row.is_reference,
        "prize_eligible": _eligibility(row)[0],
        "affiliation_verified": _eligibility(row)[1],
        "metrics": row.metrics,
        "scores": _scores(row.metrics, row.intervals),
        # The official rank of the leader of this row's statistical tie, if any.
        "statistically_tied_with": row.tie_leader,
        # Private split: the public rank and the places gained since (negative: lost).
        "public_rank": row.public_rank,
        "rank_change": (
            row.public_rank - row.rank
            if row.rank is not None and row.public_rank is not None
            else None
        ),
        "far_better_in_public": row.far_drop,
    }


def leaderboard_page(
    lab: Lab, split: str, user: User, page: int = 1, page_size: int = PAGE_SIZE
) -> dict:
    """One page of the stored board (ranks, ties and intervals read, not recomputed), the
    asking student's own row wherever it falls, and the counts to page on: the same number
    of queries and a bounded size whatever the board's size."""
    spec = load_spec(lab.spec_id)
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    page = max(1, page)
    rows = BoardRow.objects.filter(lab=lab, split=split).select_related("user")
    total = rows.count()
    if total == 0:
        _board_ensure(lab, total)
        total = rows.count()
    shown = list(rows.order_by("position")[(page - 1) * page_size : page * page_size])
    own = next((r for r in shown if r.user_id == user.pk), None) or rows.filter(user=user).first()
    return {
        "lab": lab.spec_id,
        "edition": lab.edition.slug,
        "split": split,
        "selection": lab.selection,
        "ranking": {"primary": spec.ranking.primary, "tie_breaks": spec.ranking.tie_breaks},
        "columns": [
            {"name": m.name, "label": m.label, "unit": m.unit, "direction": m.direction}
            for m in spec.metrics
        ],
        "page": page,
        "page_size": page_size,
        "pages": max(1, -(-total // page_size)),
        "total": total,
        "rows": [_stored_row_data(r) for r in shown],
        # The student's own row, on this page or not (None: not on this board).
        "you": _stored_row_data(own) if own else None,
    }


@dataclass
class DuplicatePair:
    """Two students whose entries look like one: for staff to look at, never decided here."""

    why: str  # "identical file" or "predictions agree"
    names: tuple[str, str]
    entry_ids: tuple[int, int]
    agreement: float | None = None  # observed share of hidden examples with the same outcome
    expected: float | None = None  # that share if the two were independent at their accuracies


# Flagged when two standing runs disagree on at most this share of what independence at
# their accuracies predicts, and the excess agreement is this many standard errors.
AGREEMENT_RATIO = 0.2
AGREEMENT_Z = 4.0


def duplicate_pairs(lab: Lab) -> list[DuplicatePair]:
    """Pairs of students with a byte-identical entry (same SHA-256), and pairs whose standing
    runs are right and wrong on the same hidden examples far more often than their accuracies
    explain (per-example outcomes of both splits; labs scored per example right or wrong)."""
    pairs: list[DuplicatePair] = []
    first_by_sha: dict[str, tuple[int, int, str]] = {}
    seen: set[tuple[int, int]] = set()
    entries = (
        Entry.objects.filter(lab=lab, user__role=Role.STUDENT)
        .order_by("created_at", "pk")
        .values_list(
            "pk", "user_id", "sha256", "user__username", "user__first_name", "user__last_name"
        )
    )
    for pk, user_id, sha, username, first, last in entries:
        name = User.display_name(first, last, username)
        if sha not in first_by_sha:
            first_by_sha[sha] = (pk, user_id, name)
            continue
        other_pk, other_user, other_name = first_by_sha[sha]
        key = (min(user_id, other_user), max(user_id, other_user))
        if other_user != user_id and key not in seen:
            seen.add(key)
            pairs.append(DuplicatePair("identical file", (other_name, name), (other_pk, pk)))
    pairs.extend(_agreeing_pairs(lab, seen))
    return pairs


def _agreeing_pairs(lab: Lab, seen: set[tuple[int, int]]) -> list[DuplicatePair]:
    import numpy as np

    rows = []
    for user_id, username, first, last, entry_id, outcomes in Participant.objects.filter(
        lab=lab, user__role=Role.STUDENT, standing_run__isnull=False
    ).values_list(
        "user_id",
        "user__username",
        "user__first_name",
        "user__last_name",
        "standing_run__entry_id",
        "standing_run__outcomes",
    ):
        parts = [(outcomes or {}).get(split) for split in SPLITS]
        if not all(p and p.get("dtype") == "uint8" for p in parts):
            continue  # only right/wrong outcomes say whether two entries agree
        values = np.concatenate([intervals.unpack_outcomes(p) for p in parts if p])
        rows.append((user_id, User.display_name(first, last, username), entry_id, values))
    sizes = [len(r[3]) for r in rows]
    if len(rows) < 2:
        return []
    n = max(set(sizes), key=sizes.count)
    rows = [r for r in rows if len(r[3]) == n]
    right = np.stack([r[3] for r in rows]).astype(np.float32)
    both = right @ right.T + (1 - right) @ (1 - right).T  # examples with the same outcome
    observed = both / n
    p = right.mean(axis=1)
    expected = np.outer(p, p) + np.outer(1 - p, 1 - p)
    se = np.sqrt(np.maximum(expected * (1 - expected), 1e-12) / n)
    found = []
    for i, j in zip(*np.triu_indices(len(rows), k=1), strict=True):
        key = (min(rows[i][0], rows[j][0]), max(rows[i][0], rows[j][0]))
        if key in seen:
            continue
        excess = (observed[i, j] - expected[i, j]) / se[i, j]
        if 1 - observed[i, j] <= AGREEMENT_RATIO * (1 - expected[i, j]) and excess >= AGREEMENT_Z:
            found.append(
                DuplicatePair(
                    "predictions agree",
                    (rows[i][1], rows[j][1]),
                    (rows[i][2], rows[j][2]),
                    float(observed[i, j]),
                    float(expected[i, j]),
                )
            )
    return found
