"""Reads, and the access_* checks every permission-sensitive read goes through."""

from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.db.models import Prefetch, QuerySet
from django.http import Http404
from django.utils import timezone

from accounts.models import Role, User
from core.permissions import require_staff
from core.scoring import COMPLETE, PARTIAL, TO_SCORE
from courses.models import Edition
from judging.models import PitchBallot

from .models import (
    Conflict,
    Invitation,
    InvitationStatus,
    Membership,
    PaperReview,
    ProjectGroup,
    ProjectSettings,
)
from .scoring import BallotInput, GroupInput, Standings, compute_standings

CONFLICT_MESSAGE = "You have a conflict of interest with this group."
CONFLICT = "conflict"  # a progress-grid cell: this judge must not score this group


def project_settings_for(edition: Edition) -> ProjectSettings | None:
    return ProjectSettings.objects.filter(edition=edition).select_related("edition").first()


def _groups(edition: Edition) -> QuerySet[ProjectGroup]:
    return (
        ProjectGroup.objects.filter(edition=edition)
        .select_related("edition")
        .prefetch_related(
            Prefetch("memberships", queryset=Membership.objects.select_related("user"))
        )
    )


def group_list(edition: Edition) -> QuerySet[ProjectGroup]:
    return _groups(edition).order_by("name")


def pitch_schedule(edition: Edition) -> list[ProjectGroup]:
    """Signed-up groups in presentation order; unscheduled ones last, by sign-up time."""
    groups = list(_groups(edition).filter(signed_up_at__isnull=False))
    groups.sort(key=lambda g: (g.slot is None, g.slot or 0, g.signed_up_at, g.name))
    return groups


def group_for_user(edition: Edition, user: User) -> ProjectGroup | None:
    if not user.is_authenticated:
        return None
    return _groups(edition).filter(memberships__user=user).first()


def review_for_user(edition: Edition, user: User) -> PaperReview | None:
    if not user.is_authenticated:
        return None
    return PaperReview.objects.filter(edition=edition, user=user).first()


def invitations_for_user(edition: Edition, user: User) -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        group__edition=edition, invitee=user, status=InvitationStatus.PENDING
    ).select_related("group", "invited_by")


def judge_list() -> QuerySet[User]:
    return User.objects.filter(role=Role.JUDGE, is_active=True).order_by("username")


def is_conflicted(user: User, group: ProjectGroup) -> bool:
    """Declared or staff-added conflicts, and membership: nobody judges their own group."""
    return (
        Conflict.objects.filter(judge=user, group=group).exists()
        or Membership.objects.filter(group=group, user=user).exists()
    )


def conflicted_group_ids(user: User, edition: Edition) -> set[int]:
    declared = Conflict.objects.filter(judge=user, group__edition=edition)
    member = Membership.objects.filter(user=user, edition=edition)
    return set(declared.values_list("group_id", flat=True)) | set(
        member.values_list("group_id", flat=True)
    )


def presented_group_ids(edition: Edition, now: datetime | None = None) -> set[int]:
    """Groups whose pitch counts as presented (the course rule): staff marked them present
    at the session, or a judge's ballot for them was completed once the session had begun
    (a ballot is evidence of a pitch heard only then). A ballot given before the session
    is no pitch, whatever its date says later."""
    now = now or timezone.now()
    marked = set(
        ProjectGroup.objects.filter(
            edition=edition, signed_up_at__isnull=False, presented_at__isnull=False
        ).values_list("pk", flat=True)
    )
    config = project_settings_for(edition)
    session = config.pitches_start_at if config else None
    if session is None or now < session:
        return marked
    balloted = {
        b.group_id
        for b in PitchBallot.objects.filter(
            group__edition=edition, group__signed_up_at__isnull=False, updated_at__gte=session
        )
        if b.is_complete
    }
    return marked | balloted


def groups_without_judges(edition: Edition) -> list[ProjectGroup]:
    """Signed-up groups that every judge is conflicted with: they can never be scored, so
    staff are warned (the timeline page, the pitch standings)."""
    judges = list(judge_list().values_list("pk", flat=True))
    if not judges:
        return []
    groups = list(ProjectGroup.objects.filter(edition=edition, signed_up_at__isnull=False))
    conflicted: dict[int, set[int]] = {}
    for group_id, judge_id in Conflict.objects.filter(group__edition=edition).values_list(
        "group_id", "judge_id"
    ):
        conflicted.setdefault(group_id, set()).add(judge_id)
    for group_id, user_id in Membership.objects.filter(edition=edition).values_list(
        "group_id", "user_id"
    ):
        conflicted.setdefault(group_id, set()).add(user_id)
    return [g for g in groups if set(judges) <= conflicted.get(g.pk, set())]


# --- access checks ----------------------------------------------------------------------


def access_group(user: User, group: ProjectGroup) -> ProjectGroup:
    """Members and staff see a group; so do judges without a conflict, once it signed up."""
    if not user.is_authenticated:
        raise PermissionDenied("Log in to see project groups.")
    if user.is_course_staff:
        return group
    # Checked before membership: a judge who is a member is still conflicted.
    if user.is_judge and is_conflicted(user, group):
        raise PermissionDenied(CONFLICT_MESSAGE)
    if Membership.objects.filter(group=group, user=user).exists():
        return group
    if user.is_judge and group.is_signed_up:
        return group
    raise Http404("No such group.")


def access_group_scoring(user: User, group: ProjectGroup) -> ProjectGroup:
    """Who may open a pitch's score sheet, read their own ballot and save it."""
    if not user.is_authenticated or not user.is_judge:
        raise PermissionDenied("Only judges score pitches.")
    if not group.is_signed_up:
        raise Http404("This group has not signed up to pitch.")
    if is_conflicted(user, group):
        raise PermissionDenied(CONFLICT_MESSAGE)
    return group


def access_group_scores(user: User, group: ProjectGroup) -> ProjectGroup:
    """Every judge's scores for a group: staff only (judges never see each other's)."""
    require_staff(user, "Only course staff see judges' scores.")
    return group


def access_standings(user: User, edition: Edition) -> Edition:
    require_staff(user, "Only course staff see the pitch standings.")
    return edition


def access_review(user: User, review: PaperReview) -> PaperReview:
    if user.is_authenticated and (user.is_course_staff or review.user_id == user.pk):
        return review
    raise Http404("No such review.")


# --- judging ----------------------------------------------------------------------------


@dataclass
class ScoringItem:
    group: ProjectGroup
    ballot: PitchBallot | None

    @property
    def state(self) -> str:
        return self.ballot.state if self.ballot else TO_SCORE


def groups_to_score(judge: User, edition: Edition) -> list[ScoringItem]:
    conflicted = conflicted_group_ids(judge, edition)
    ballots = {
        b.group_id: b for b in PitchBallot.objects.filter(judge=judge, group__edition=edition)
    }
    return [
        ScoringItem(group, ballots.get(group.pk))
        for group in pitch_schedule(edition)
        if group.pk not in conflicted
    ]


def ballot_for(judge: User, group: ProjectGroup) -> PitchBallot | None:
    return PitchBallot.objects.filter(judge=judge, group=group).first()


def ballots_for_edition(edition: Edition) -> QuerySet[PitchBallot]:
    return (
        PitchBallot.objects.filter(group__edition=edition)
        .select_related("group", "judge")
        .order_by("group__slot", "group__name", "judge__username")
    )


def standings_for(edition: Edition) -> Standings:
    config = project_settings_for(edition)
    min_judges = config.min_judges_per_group if config else 1
    groups = pitch_schedule(edition)
    signed_up = {g.pk for g in groups}
    standings = compute_standings(
        [GroupInput(g.pk, g.name, g.is_prize_eligible) for g in groups],
        [
            BallotInput(b.group_id, b.judge_id, b.score)
            for b in ballots_for_edition(edition)
            if b.group_id in signed_up
        ],
        min_judges,
    )
    return standings


@dataclass
class ProgressCell:
    group: ProjectGroup
    state: str  # the ballot's state (core.scoring), or CONFLICT


@dataclass
class JudgeProgress:
    judge: User
    cells: list[ProgressCell]

    @property
    def remaining(self) -> list[ProjectGroup]:
        return [c.group for c in self.cells if c.state in (TO_SCORE, PARTIAL)]

    @property
    def done(self) -> int:
        return sum(1 for c in self.cells if c.state == COMPLETE)

    @property
    def to_do(self) -> int:
        return sum(1 for c in self.cells if c.state != CONFLICT)


def scoring_progress(edition: Edition) -> tuple[list[ProjectGroup], list[JudgeProgress]]:
    """Who still has to score whom."""
    groups = pitch_schedule(edition)
    ballots = {(b.judge_id, b.group_id): b for b in ballots_for_edition(edition)}
    conflicts = set(
        Conflict.objects.filter(group__edition=edition).values_list("judge_id", "group_id")
    )
    members = {(m.user_id, g.pk) for g in groups for m in g.memberships.all()}
    rows = []
    for judge in judge_list():
        cells = []
        for group in groups:
            key = (judge.pk, group.pk)
            if key in conflicts or key in members:
                state = CONFLICT
            else:
                state = ballots[key].state if key in ballots else TO_SCORE
            cells.append(ProgressCell(group, state))
        rows.append(JudgeProgress(judge, cells))
    return groups, rows


def conflict_list(edition: Edition) -> QuerySet[Conflict]:
    return Conflict.objects.filter(group__edition=edition).select_related(
        "judge", "group", "created_by"
    )


def review_list(edition: Edition) -> QuerySet[PaperReview]:
    return PaperReview.objects.filter(edition=edition).select_related("user", "marked_by")
