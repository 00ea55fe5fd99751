from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import Role, User, affiliation_verified, lab_prize_eligible
from courses.models import Lab
from courses.phases import reveal_in_force
from grader import intervals
from grader.specs import LabSpec, MetricSpec, load_spec
from submissions.models import Entry, Participant
from submissions.splits import PRIVATE, PUBLIC, SPLITS, sees_private
from submissions.standing import scored_current_runs

from .models import BoardRow, BoardState, LeaderboardBaseline
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

    def table_with_intervals(
        self, rows: list[RankedRow] | None = None
    ) -> list[tuple[RankedRow, list[tuple[float | None, list, MetricSpec]]]]:
        """Each row (the board's, or `rows` of it) with (value, [low, high] or [], its
        metric) per column, for the page."""
        return [
            (
                r,
                [
                    (r.row.metrics.get(m.name), r.row.intervals.get(m.name) or [], m)
                    for m in self.columns
                ],
            )
            for r in (self.rows if rows is None else rows)
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


def _ranked(row: BoardRow) -> RankedRow:
    """A stored row as the ranking made it (eligibility read live, see _eligibility)."""
    eligible, verified = _eligibility(row)
    return RankedRow(
        Row(
            key=row.key,
            name=row.name,
            metrics=row.metrics,
            intervals=row.intervals,
            eligible=eligible,
            verified=verified,
            is_reference=row.is_reference,
            entry_id=row.entry_id,
            user_id=row.user_id,
        ),
        row.rank,
        tied=row.tied,
        tie_leader=row.tie_leader,
        public_rank=row.public_rank,
        far_drop=row.far_drop,
    )


def _stored(lab: Lab, split: str) -> QuerySet[BoardRow]:
    return BoardRow.objects.filter(lab=lab, split=split).select_related("user")


def leaderboard_stored(lab: Lab, split: str) -> Leaderboard:
    """The whole board as last ranked (BoardRow), for the CSV and the prize notes: read, not
    ranked again (the paired test of statistical ties runs only when the standings change)."""
    board = _stored(lab, split)
    stored = list(board.order_by("position"))
    if not stored:
        _board_ensure(lab, 0)
        stored = list(board.order_by("position"))
    return Leaderboard(lab, load_spec(lab.spec_id), split, [_ranked(r) for r in stored])


def board_top(lab: Lab, split: str, limit: int) -> list[RankedRow]:
    """The ranked students of the stored board down to rank `limit` (all those tied at it),
    with an entry, in board order: a read bounded by how many that is, not by the board."""
    top = _stored(lab, split).filter(
        is_reference=False, rank__isnull=False, rank__lte=limit, entry__isnull=False
    )
    rows = list(top.order_by("position"))
    if not rows and not BoardRow.objects.filter(lab=lab).exists():
        _board_ensure(lab, 0)
        rows = list(top.order_by("position"))
    return [_ranked(r) for r in rows]


PAGE_SIZE = 100
MAX_PAGE_SIZE = 500


@dataclass
class BoardPage:
    """One page of a stored board, and where the asking person's own row is."""

    board: Leaderboard  # its rows: this page's only
    page: int
    page_size: int
    pages: int
    total: int
    own: RankedRow | None  # the person's own row, on this page or not (None: not on the board)
    own_page: int | None  # the page that holds it
    ranked_at: datetime | None  # when the board was last ranked (None: never)

    @property
    def start(self) -> int:
        """The 1-based place on the board of this page's first row (0 when it has none)."""
        return (self.page - 1) * self.page_size + 1 if self.board.rows else 0

    @property
    def end(self) -> int:
        return (self.page - 1) * self.page_size + len(self.board.rows)

    @property
    def own_elsewhere(self) -> bool:
        """The own row is on another page (so a page shows it apart, above its table)."""
        return self.own is not None and self.own_page != self.page


def board_page(
    lab: Lab,
    split: str,
    user: User,
    page: int = 1,
    page_size: int = PAGE_SIZE,
    *,
    clamp: bool = False,
) -> BoardPage:
    """One page of the stored board (ranks, ties and intervals read, not recomputed) and the
    asking person's own row wherever it falls: the same number of queries and a bounded size
    whatever the board's size. The API and the page both page through here.

    A page beyond the last is empty (an API client pages until no rows come back), or with
    `clamp` the last page (a person following an old link)."""
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    rows = _stored(lab, split)
    total = rows.count()
    if total == 0:
        _board_ensure(lab, total)
        total = rows.count()
    pages = max(1, -(-total // page_size))
    page = max(1, min(page, pages) if clamp else page)
    # Beyond the last page nothing is read (and no offset too large for the database is sent).
    shown = (
        list(rows.order_by("position")[(page - 1) * page_size : page * page_size])
        if page <= pages
        else []
    )
    own = None
    if user.is_authenticated:  # (an anonymous pk of None would match the reference rows)
        own = next((r for r in shown if r.user_id == user.pk), None)
        own = own or rows.filter(user=user).first()
    return BoardPage(
        board=Leaderboard(lab, load_spec(lab.spec_id), split, [_ranked(r) for r in shown]),
        page=page,
        page_size=page_size,
        pages=pages,
        total=total,
        own=_ranked(own) if own else None,
        own_page=own.position // page_size + 1 if own else None,
        ranked_at=ranked_at(lab),
    )


def ranked_at(lab: Lab) -> datetime | None:
    """When the lab's board was last ranked: boards are ranked after each change, in the
    site worker, so a page says how fresh it is. No query when the lab was fetched with
    select_related("board_state")."""
    try:
        return lab.board_state.built_at
    except BoardState.DoesNotExist:
        return None


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
