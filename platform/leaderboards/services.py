from dataclasses import replace
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff
from courses import phases
from courses.models import Lab
from submissions.models import Entry
from submissions.splits import PUBLIC, SPLITS

from .models import BoardRow, LeaderboardBaseline
from .ranking import far_better_in_public


class LeaderboardRefused(Refused):
    """A staff action on a leaderboard that the rules do not allow, with the reason."""


def lab_private_reveal(*, lab: Lab, by: User, now: datetime | None = None) -> None:
    now = now or timezone.now()
    require_staff(by, "Only staff can reveal the private standings.", LeaderboardRefused)
    phases.lab_require(lab, phases.REVEAL, LeaderboardRefused, now=now)
    Lab.objects.filter(pk=lab.pk).update(private_revealed=True)
    lab.private_revealed = True


def lab_private_hide(*, lab: Lab, by: User) -> None:
    require_staff(by, "Only staff can hide the private standings.", LeaderboardRefused)
    Lab.objects.filter(pk=lab.pk).update(private_revealed=False)
    lab.private_revealed = False


def baseline_mark(*, entry: Entry, label: str = "Baseline", by: User | None = None):
    """Show a staff entry as a reference row of its lab's leaderboard."""
    if not entry.user.is_course_staff:
        raise LeaderboardRefused("Only entries uploaded by staff can be reference rows.")
    baseline, _ = LeaderboardBaseline.objects.update_or_create(
        entry=entry, defaults={"lab_id": entry.lab_id, "label": label[:100], "marked_by": by}
    )
    board_refresh(lab=entry.lab)
    return baseline


def board_refresh(*, lab: Lab, **_signal) -> None:
    """Rank the lab again and store its rows (both splits), so requests only read them.
    Also the receiver of submissions' `standings_changed` (hence the signal's keywords)."""
    from .selectors import leaderboard_for

    with transaction.atomic():
        # One refresh of a lab at a time (workers record runs in parallel): the lab's row
        # is the lock, so a board is never half deleted and written twice.
        list(Lab.objects.select_for_update().filter(pk=lab.pk).values_list("pk"))
        BoardRow.objects.filter(lab=lab).delete()
        public_ranks: dict[str, int | None] = {}
        for split in SPLITS:  # public first: the private rows carry the public rank
            rows = leaderboard_for(lab, split).rows
            if split == PUBLIC:
                public_ranks = {r.row.key: r.rank for r in rows}
            else:
                ranked = sum(1 for r in rows if r.rank is not None)
                rows = [replace(r, public_rank=public_ranks.get(r.row.key)) for r in rows]
                rows = [
                    replace(r, far_drop=far_better_in_public(r.rank_change, ranked)) for r in rows
                ]
            BoardRow.objects.bulk_create(
                BoardRow(
                    lab=lab,
                    split=split,
                    position=position,
                    key=r.row.key,
                    rank=r.rank,
                    tied=r.tied,
                    tie_leader=r.tie_leader,
                    public_rank=r.public_rank,
                    far_drop=r.far_drop,
                    user_id=r.row.user_id,
                    entry_id=r.row.entry_id,
                    name=r.row.name[:300],
                    eligible=r.row.eligible,
                    verified=r.row.verified,
                    is_reference=r.row.is_reference,
                    metrics=r.row.metrics,
                    intervals=r.row.intervals,
                )
                for position, r in enumerate(rows)
            )
