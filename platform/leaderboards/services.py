import logging
from dataclasses import replace
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff
from courses import phases
from courses.models import Lab
from submissions.models import Entry
from submissions.splits import PUBLIC, SPLITS

from .models import BoardRow, BoardState, LeaderboardBaseline
from .ranking import far_better_in_public

logger = logging.getLogger(__name__)

# A refresh queued this long ago and not started is taken as lost (a broker that forgot its
# queue, a message dropped): the next change queues another instead of trusting it.
REFRESH_LOST_AFTER = timedelta(minutes=2)


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
    phases.lab_require(lab, phases.HIDE_PRIVATE, LeaderboardRefused)
    lab.private_revealed = False
    lab.save(update_fields=["private_revealed"])  # Lab.save keeps whom the reveal reached


def baseline_mark(*, entry: Entry, label: str = "Baseline", by: User | None = None):
    """Show a staff entry as a reference row of its lab's leaderboard."""
    if not entry.user.is_course_staff:
        raise LeaderboardRefused("Only entries uploaded by staff can be reference rows.")
    baseline, _ = LeaderboardBaseline.objects.update_or_create(
        entry=entry, defaults={"lab_id": entry.lab_id, "label": label[:100], "marked_by": by}
    )
    board_refresh(lab=entry.lab)
    return baseline


def board_refresh_soon(*, lab: Lab, **_signal) -> None:
    """The receiver of submissions' `standings_changed` (hence the signal's keywords): rank
    the lab again once the change is committed, in a Celery task on the site queue. Never
    inside the transaction that recorded the change: ranking 2,000 students takes a second,
    and a worker recording a run would hold the lab's lock (and its GPU) that long."""
    lab_id = lab.pk
    transaction.on_commit(lambda: board_refresh_request(lab_id))


def baseline_changed(*, instance: LeaderboardBaseline, **_signal) -> None:
    """The receiver of a reference row's save or deletion (hence the signal's keywords)."""
    lab = Lab.objects.filter(pk=instance.lab_id).first()
    if lab is not None:
        board_refresh_soon(lab=lab)


def board_refresh_request(
    lab_id: int, now: datetime | None = None, *, changed: bool = True
) -> bool:
    """Note that the lab's standings changed (unless `changed` is False: the sweeper asking
    again) and queue one refresh, unless one is queued and not yet started (it will read this
    change: it clears the mark before it reads). True when this call queued it."""
    from .tasks import refresh_board

    now = now or timezone.now()
    states = BoardState.objects.filter(lab_id=lab_id)
    if changed and not states.update(changed_at=now):
        try:
            with transaction.atomic():
                BoardState.objects.create(lab_id=lab_id, changed_at=now)
        except IntegrityError:  # created meanwhile by another process
            states.update(changed_at=now)
    queued = states.filter(
        Q(requested_at__isnull=True) | Q(requested_at__lt=now - REFRESH_LOST_AFTER)
    ).update(requested_at=now)
    if not queued:
        return False  # a refresh is queued: that one will read this change
    try:
        refresh_board.apply_async(args=(lab_id,))
    except Exception:  # noqa: BLE001  (the change is committed; the sweeper asks again)
        logger.exception("could not queue a leaderboard refresh of lab %s", lab_id)
        states.filter(requested_at=now).update(requested_at=None)
        return False
    return True


def board_refresh_queued(lab_id: int) -> None:
    """What the queued task does: clear the mark first, so a change committed from now on
    queues another refresh, then rank everything committed so far."""
    BoardState.objects.filter(lab_id=lab_id).update(requested_at=None)
    lab = Lab.objects.filter(pk=lab_id).first()
    if lab is not None:
        board_refresh(lab=lab)


def boards_stale_refresh(now: datetime | None = None) -> int:
    """The beat's safety net: ask again for every board owed a refresh (a change after the
    last refresh that finished) that none is queued for: a broker refused the task, or the
    task failed part way. Returns how many were queued."""
    now = now or timezone.now()
    owed = (
        BoardState.objects.filter(changed_at__isnull=False)
        .filter(Q(built_through__isnull=True) | Q(changed_at__gt=F("built_through")))
        .filter(Q(requested_at__isnull=True) | Q(requested_at__lt=now - REFRESH_LOST_AFTER))
    )
    lab_ids = list(owed.values_list("lab_id", flat=True))
    return sum(board_refresh_request(lab_id, now, changed=False) for lab_id in lab_ids)


def board_refresh(*, lab: Lab) -> None:
    """Rank the lab again and store its rows (both splits), so requests only read them."""
    from .selectors import leaderboard_for

    with transaction.atomic():
        # One refresh of a lab at a time (workers record runs in parallel): the lab's row
        # is the lock, so a board is never half deleted and written twice.
        list(Lab.objects.select_for_update(of=("self",)).filter(pk=lab.pk).values_list("pk"))
        # The last change this refresh is sure to see (read before the standings are).
        through = BoardState.objects.filter(lab=lab).values_list("changed_at", flat=True).first()
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
        BoardState.objects.update_or_create(
            lab=lab, defaults={"built_at": timezone.now(), "built_through": through}
        )
