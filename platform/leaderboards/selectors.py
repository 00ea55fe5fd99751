from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.models import LAB_PRIZE_AFFILIATIONS, Role, User
from courses.models import Lab
from courses.phases import reveal_in_force
from grader.specs import LabSpec, MetricSpec, load_spec
from submissions.models import Entry, Participant
from submissions.splits import PRIVATE, PUBLIC, SPLITS, sees_private
from submissions.standing import scored_current_runs

from .models import LeaderboardBaseline
from .ranking import RankedRow, Row, rank_rows


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
        "standing_run__entry_id",
        f"standing_run__split_metrics__{split}",  # only the split shown: less JSON to decode
    )
    for user_id, username, first, last, affiliation, entry_id, metrics in participants:
        rows.append(
            Row(
                key=f"user:{user_id}",
                name=User.display_name(first, last, username),
                metrics=metrics or {},
                eligible=affiliation in LAB_PRIZE_AFFILIATIONS,
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
                is_reference=True,
                entry_id=baseline.entry_id,
            )
        )
    return rows


def leaderboard_for(lab: Lab, split: str) -> Leaderboard:
    spec = load_spec(lab.spec_id)
    return Leaderboard(lab, spec, split, rank_rows(leaderboard_rows(lab, spec, split), spec))


def leaderboard_data(board: Leaderboard) -> dict:
    """The leaderboard as the API returns it (and as the CSV and page show it)."""
    return {
        "lab": board.lab.spec_id,
        "edition": board.lab.edition.slug,
        "split": board.split,
        "selection": board.lab.selection,
        "ranking": {
            "primary": board.spec.ranking.primary,
            "tie_breaks": board.spec.ranking.tie_breaks,
        },
        "columns": [
            {"name": m.name, "label": m.label, "unit": m.unit, "direction": m.direction}
            for m in board.columns
        ],
        "rows": [
            {
                "key": r.row.key,
                "rank": r.rank,
                "tied": r.tied,
                "name": r.row.name,
                "reference": r.row.is_reference,
                "prize_eligible": r.row.eligible,
                "metrics": r.row.metrics,
            }
            for r in board.rows
        ],
    }
