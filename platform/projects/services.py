"""Final-project use cases: one function per action, each in one transaction."""

import re
from datetime import datetime

from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from core.errors import Refused
from core.permissions import require_staff
from core.scoring import ScoreInvalid, parse_score
from courses.models import Edition, Extension
from courses.phases import step_deadline
from judging.models import PITCH_CRITERIA, PitchBallot

from . import phases
from .models import (
    MAX_GROUP_SIZE,
    Conflict,
    ConflictSource,
    Invitation,
    InvitationStatus,
    Membership,
    PaperReview,
    ProjectGroup,
    ProjectSettings,
    ReviewStatus,
)
from .selectors import access_group_scoring, project_settings_for

MAX_SLIDES_BYTES = 20 * 1024 * 1024
MAX_REVIEW_BYTES = 5 * 1024 * 1024


class ProjectError(Refused):
    """A refused action, with a message the student, judge or staff member can act on."""


# --- helpers ----------------------------------------------------------------------------


def _settings(edition: Edition) -> ProjectSettings:
    config = project_settings_for(edition)
    if config is None:
        raise ProjectError("Final projects are not open in this edition yet.")
    return config


def _require_before(
    deadline: datetime, now: datetime, what: str, edition: Edition, user: User, step: str
) -> None:
    """The step's deadline for this student: the edition's, or their extension's."""
    deadline = step_deadline(edition, user, step, deadline)
    if now >= deadline:
        raise ProjectError(f"{what} closed on {edition.format_time(deadline)}.")


def _lock_user(user: User) -> None:
    # Serialises one person's joins and review submissions, so "a group or a review, never
    # both" holds under concurrent requests.
    User.objects.select_for_update(of=("self",)).filter(pk=user.pk).first()


def _require_member(group: ProjectGroup, user: User) -> None:
    if not Membership.objects.filter(group=group, user=user).exists():
        raise PermissionDenied("You are not a member of this group.")


def _require_not_judge(user: User, who: str = "You") -> None:
    # A judge in a group would judge (or be conflicted with) their own pitch.
    if user.is_judge:
        raise ProjectError(
            f"{who} {'are' if who == 'You' else 'is'} a judge: judges cannot be group members."
        )


def _require_no_review(edition: Edition, user: User) -> None:
    if PaperReview.objects.filter(edition=edition, user=user).exists():
        raise ProjectError(
            "You submitted a paper review; a student does either a pitch group or a review."
        )


_PDF_PAGE = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


def validate_pdf(upload: UploadedFile, *, max_bytes: int, max_pages: int | None = None) -> None:
    """Refuse anything that is not really a PDF (magic bytes), too large or too long."""
    if upload.size is None or upload.size > max_bytes:
        raise ProjectError(f"The PDF must be at most {max_bytes // (1024 * 1024)} MB.")
    upload.seek(0)
    data = upload.read()
    upload.seek(0)
    if not data.startswith(b"%PDF-") or b"%%EOF" not in data[-2048:]:
        raise ProjectError("That file is not a PDF.")
    # Page objects inside compressed object streams are invisible here, so this can only
    # ever undercount: it refuses surely-too-long files and lets staff judge the rest.
    if max_pages is not None and len(_PDF_PAGE.findall(data)) > max_pages:
        raise ProjectError(f"The PDF must have at most {max_pages} page(s).")


# --- groups and invitations -------------------------------------------------------------


def group_create(*, edition: Edition, user: User, name: str, now: datetime | None = None):
    now = now or timezone.now()
    config = _settings(edition)
    _require_before(
        config.signup_deadline, now, "Pitch sign-up", edition, user, Extension.Step.SIGNUP
    )
    _require_not_judge(user)
    name = name.strip()
    if not name:
        raise ProjectError("Give your group a name.")
    with transaction.atomic():
        _lock_user(user)
        _require_no_review(edition, user)
        if Membership.objects.filter(edition=edition, user=user).exists():
            raise ProjectError("You are already in a project group in this edition.")
        if ProjectGroup.objects.filter(edition=edition, name__iexact=name).exists():
            raise ProjectError(f"A group called “{name}” already exists.")
        try:
            with transaction.atomic():
                group = ProjectGroup.objects.create(
                    edition=edition, name=name, created_by=user, created_at=now
                )
                Membership.objects.create(edition=edition, group=group, user=user, joined_at=now)
        except IntegrityError as error:
            raise ProjectError("You are already in a project group in this edition.") from error
    return group


def invitation_create(
    *, group: ProjectGroup, inviter: User, username: str, now: datetime | None = None
) -> Invitation:
    now = now or timezone.now()
    edition = group.edition
    config = _settings(edition)
    _require_member(group, inviter)
    _require_before(
        config.signup_deadline, now, "Pitch sign-up", edition, inviter, Extension.Step.SIGNUP
    )
    invitee = User.objects.filter(username=username.strip(), is_active=True).first()
    if invitee is None:
        raise ProjectError(f"There is no user called “{username.strip()}”.")
    if invitee == inviter:
        raise ProjectError("You are already in this group.")
    _require_not_judge(invitee, invitee.username)
    if Membership.objects.filter(edition=edition, user=invitee).exists():
        raise ProjectError(f"{invitee.username} is already in a project group.")
    if PaperReview.objects.filter(edition=edition, user=invitee).exists():
        raise ProjectError(f"{invitee.username} is doing a paper review instead of a pitch.")
    if group.memberships.count() >= MAX_GROUP_SIZE:
        raise ProjectError(f"A group has at most {MAX_GROUP_SIZE} people.")
    try:
        with transaction.atomic():
            return Invitation.objects.create(
                group=group, invitee=invitee, invited_by=inviter, created_at=now
            )
    except IntegrityError as error:
        raise ProjectError(f"{invitee.username} already has an invitation.") from error


def invitation_accept(
    *, invitation: Invitation, user: User, now: datetime | None = None
) -> Membership:
    now = now or timezone.now()
    if invitation.invitee_id != user.pk:
        raise PermissionDenied("This invitation is not yours.")
    edition = invitation.group.edition
    config = _settings(edition)
    _require_before(
        config.signup_deadline, now, "Pitch sign-up", edition, user, Extension.Step.SIGNUP
    )
    _require_not_judge(user)
    with transaction.atomic():
        _lock_user(user)
        # The group row lock makes "count, then join" atomic: no sixth member slips in.
        group = ProjectGroup.objects.select_for_update(of=("self",)).get(pk=invitation.group_id)
        invitation = Invitation.objects.get(pk=invitation.pk)
        if not invitation.is_pending:
            raise ProjectError(f"This invitation was already {invitation.status}.")
        _require_no_review(edition, user)
        if Membership.objects.filter(group=group).count() >= MAX_GROUP_SIZE:
            raise ProjectError(f"{group.name} is full ({MAX_GROUP_SIZE} people).")
        try:
            with transaction.atomic():
                membership = Membership.objects.create(
                    edition=edition, group=group, user=user, joined_at=now
                )
        except IntegrityError as error:
            raise ProjectError("You are already in a project group in this edition.") from error
        invitation.close(InvitationStatus.ACCEPTED)
        # Other groups' offers cannot be accepted any more: say so rather than leave them.
        for other in Invitation.objects.filter(
            invitee=user, group__edition=edition, status=InvitationStatus.PENDING
        ):
            other.close(InvitationStatus.CANCELLED)
    return membership


def invitation_decline(*, invitation: Invitation, user: User) -> Invitation:
    if invitation.invitee_id != user.pk:
        raise PermissionDenied("This invitation is not yours.")
    if not invitation.is_pending:
        raise ProjectError(f"This invitation was already {invitation.status}.")
    invitation.close(InvitationStatus.DECLINED)
    return invitation


def invitation_cancel(*, invitation: Invitation, user: User) -> Invitation:
    _require_member(invitation.group, user)
    if not invitation.is_pending:
        raise ProjectError(f"This invitation was already {invitation.status}.")
    invitation.close(InvitationStatus.CANCELLED)
    return invitation


def membership_leave(*, group: ProjectGroup, user: User, now: datetime | None = None) -> None:
    now = now or timezone.now()
    config = _settings(group.edition)
    _require_before(
        config.signup_deadline, now, "Group changes", group.edition, user, Extension.Step.SIGNUP
    )
    with transaction.atomic():
        group = ProjectGroup.objects.select_for_update(of=("self",)).get(pk=group.pk)
        deleted, _ = Membership.objects.filter(group=group, user=user).delete()
        if not deleted:
            raise PermissionDenied("You are not a member of this group.")
        if not group.memberships.exists():
            group.delete()


# --- pitch sign-up, slides and schedule --------------------------------------------------


def pitch_signup(
    *, group: ProjectGroup, user: User, title: str = "", now: datetime | None = None
) -> ProjectGroup:
    now = now or timezone.now()
    _require_member(group, user)
    config = _settings(group.edition)
    _require_before(
        config.signup_deadline, now, "Pitch sign-up", group.edition, user, Extension.Step.SIGNUP
    )
    group.title = title.strip()[:200] or group.title
    if group.signed_up_at is None:
        group.signed_up_at = now
    group.save(update_fields=["title", "signed_up_at"])
    return group


def pitch_withdraw(*, group: ProjectGroup, user: User, now: datetime | None = None) -> None:
    now = now or timezone.now()
    _require_member(group, user)
    config = _settings(group.edition)
    _require_before(
        config.signup_deadline, now, "Pitch sign-up", group.edition, user, Extension.Step.SIGNUP
    )
    group.signed_up_at = None
    group.slot = None
    group.save(update_fields=["signed_up_at", "slot"])


def slides_submit(
    *,
    group: ProjectGroup,
    user: User,
    upload: UploadedFile | None = None,
    url: str = "",
    now: datetime | None = None,
) -> ProjectGroup:
    now = now or timezone.now()
    _require_member(group, user)
    config = _settings(group.edition)
    _require_before(
        config.slides_deadline, now, "Slide submission", group.edition, user, Extension.Step.SLIDES
    )
    if not group.is_signed_up:
        raise ProjectError("Sign up to pitch before adding slides.")
    url = url.strip()
    if upload is not None:
        validate_pdf(upload, max_bytes=MAX_SLIDES_BYTES)
        if group.slides_file:
            group.slides_file.delete(save=False)
        group.slides_file.save(f"group-{group.pk}-slides.pdf", upload, save=False)
        group.slides_url = ""
    elif url:
        if not url.lower().startswith("https://") or len(url) > 200 or " " in url:
            raise ProjectError("Slides links must be https:// addresses.")
        if group.slides_file:
            group.slides_file.delete(save=False)
        group.slides_url = url
    else:
        raise ProjectError("Upload a PDF or give an https:// link to your slides.")
    group.slides_updated_at = now
    group.save(update_fields=["slides_file", "slides_url", "slides_updated_at"])
    return group


def schedule_generate(*, edition: Edition, user: User) -> list[ProjectGroup]:
    """Number the signed-up groups 1..n, keeping any order staff already set."""
    require_staff(user)
    with transaction.atomic():
        groups = list(
            ProjectGroup.objects.select_for_update(of=("self",)).filter(
                edition=edition, signed_up_at__isnull=False
            )
        )
        groups.sort(key=lambda g: (g.slot is None, g.slot or 0, g.signed_up_at, g.name))
        ProjectGroup.objects.filter(edition=edition).update(slot=None)
        for position, group in enumerate(groups, start=1):
            group.slot = position
            group.save(update_fields=["slot"])
    return groups


def schedule_move(*, group: ProjectGroup, user: User, offset: int) -> None:
    """Swap a pitch with its neighbour (offset -1: earlier, +1: later)."""
    require_staff(user)
    with transaction.atomic():
        group = ProjectGroup.objects.select_for_update(of=("self",)).get(pk=group.pk)
        if group.slot is None:
            raise ProjectError("Generate the schedule first.")
        other = (
            ProjectGroup.objects.select_for_update(of=("self",))
            .filter(edition=group.edition, slot=group.slot + offset)
            .first()
        )
        if other is None:
            return
        mine, theirs = group.slot, other.slot
        group.slot = None
        group.save(update_fields=["slot"])
        other.slot = mine
        other.save(update_fields=["slot"])
        group.slot = theirs
        group.save(update_fields=["slot"])


# --- paper reviews ----------------------------------------------------------------------


def review_submit(
    *,
    edition: Edition,
    user: User,
    paper_title: str,
    upload: UploadedFile,
    now: datetime | None = None,
) -> PaperReview:
    now = now or timezone.now()
    config = _settings(edition)
    _require_before(
        config.review_deadline, now, "Paper review submission", edition, user, Extension.Step.REVIEW
    )
    paper_title = paper_title.strip()
    if not paper_title:
        raise ProjectError("Name the paper you reviewed.")
    validate_pdf(upload, max_bytes=MAX_REVIEW_BYTES, max_pages=1)
    with transaction.atomic():
        _lock_user(user)
        if Membership.objects.filter(edition=edition, user=user).exists():
            raise ProjectError(
                "You are in a pitch group; a student does either a pitch group or a review."
            )
        review = PaperReview.objects.filter(edition=edition, user=user).first()
        if review is None:
            review = PaperReview(edition=edition, user=user)
        elif review.file:
            review.file.delete(save=False)
        review.paper_title = paper_title[:300]
        review.submitted_at = now
        review.status = ReviewStatus.SUBMITTED
        review.marked_by = None
        review.marked_at = None
        review.file.save(f"review-{edition.slug}-{user.pk}.pdf", upload, save=False)
        review.save()
    return review


def review_mark(*, review: PaperReview, user: User, status: str) -> PaperReview:
    require_staff(user)
    if status not in (ReviewStatus.PASS, ReviewStatus.FAIL):
        raise ProjectError("Mark a review pass or fail.")
    review.status = status
    review.marked_by = user
    review.marked_at = timezone.now()
    review.save(update_fields=["status", "marked_by", "marked_at"])
    return review


# --- conflicts and ballots --------------------------------------------------------------


def _conflict_create(
    *, judge: User, group: ProjectGroup, source: str, reason: str, by: User
) -> Conflict:
    if not judge.is_judge:
        raise ProjectError(f"{judge.username} is not a judge.")
    reason = reason.strip()[:300]
    with transaction.atomic():
        conflict, created = Conflict.objects.select_for_update(of=("self",)).get_or_create(
            judge=judge,
            group=group,
            defaults={"source": source, "reason": reason, "created_by": by},
        )
        if not created and source == ConflictSource.STAFF and conflict.source != source:
            # Staff's word outranks the judge's: the conflict becomes theirs, with their reason,
            # so the judge can no longer withdraw it and score the group.
            conflict.source = source
            conflict.reason = reason or conflict.reason
            conflict.created_by = by
            conflict.save(update_fields=["source", "reason", "created_by"])
        # A conflicted judge's scores must not count, even ones given before the conflict.
        PitchBallot.objects.filter(judge=judge, group=group).delete()
    return conflict


def conflict_declare(*, judge: User, group: ProjectGroup, reason: str = "") -> Conflict:
    if not reason.strip():
        raise ProjectError(f"Say why you have a conflict with {group.name} (staff read it).")
    return _conflict_create(
        judge=judge, group=group, source=ConflictSource.DECLARED, reason=reason, by=judge
    )


def conflict_add(*, user: User, judge: User, group: ProjectGroup, reason: str = "") -> Conflict:
    require_staff(user)
    return _conflict_create(
        judge=judge, group=group, source=ConflictSource.STAFF, reason=reason, by=user
    )


def conflict_withdraw(*, user: User, conflict: Conflict) -> None:
    """Undo a conflict: the judge who declared it, or staff (any conflict). Ballots removed
    when it was declared stay removed: the judge scores the group again."""
    if user.is_authenticated and user.is_course_staff:
        Conflict.objects.filter(pk=conflict.pk).delete()
        return
    # Asked of the row as it is now: staff may have made the judge's conflict theirs since.
    own = Conflict.objects.filter(pk=conflict.pk, source=ConflictSource.DECLARED, judge=user)
    if own.delete()[0]:
        return
    if Conflict.objects.filter(pk=conflict.pk, judge=user).exists():
        raise ProjectError("Staff set this conflict: only staff can undo it.")
    raise ProjectError("Only the judge who declared it, or staff, can undo a conflict.")


def _score(value) -> int | None:
    try:
        return parse_score(value)
    except ScoreInvalid as invalid:
        raise ProjectError(str(invalid)) from None


def _lock_scoring(edition: Edition) -> None:
    """Hold the edition's final-project settings row: staff close scoring by updating it, so
    a ballot saved under this lock is in before the close or refused after it, never both."""
    ProjectSettings.objects.select_for_update(of=("self",)).filter(edition=edition).first()


def ballot_save(
    *, judge: User, group: ProjectGroup, changes: dict, now: datetime | None = None
) -> PitchBallot:
    """Save whichever criteria (and comment) changed: the sheet saves as the judge clicks."""
    access_group_scoring(judge, group)
    with transaction.atomic():
        _lock_scoring(group.edition)
        verdict = phases.project_allows(group.edition, phases.SCORE, now)
        if not verdict:
            raise ProjectError(verdict.reason)
        values: dict[str, int | str | None] = {
            c: _score(changes[c]) for c in PITCH_CRITERIA if c in changes
        }
        if "comment" in changes:
            comment = changes["comment"]
            if not isinstance(comment, str):
                raise ProjectError("The comment must be text.")
            values["comment"] = comment[:4000]
        ballot, _ = PitchBallot.objects.select_for_update(of=("self",)).get_or_create(
            group=group, judge=judge
        )
        for name, value in values.items():
            setattr(ballot, name, value)
        ballot.updated_at = now or timezone.now()
        ballot.save()
    return ballot


# --- the pitch session and closing scoring ---------------------------------------------


def pitch_attendance_mark(
    *, group: ProjectGroup, by: User, present: bool = True, now: datetime | None = None
) -> ProjectGroup:
    """Staff mark a group present at the pitch session (or undo it): then its pitch is
    "presented". From the session on only (projects.phases)."""
    require_staff(by, "Only staff mark attendance.", ProjectError)
    if not group.is_signed_up:
        raise ProjectError(f"{group.name} has not signed up to pitch.")
    verdict = phases.project_allows(group.edition, phases.MARK_ATTENDANCE, now)
    if not verdict:
        raise ProjectError(verdict.reason)
    group.presented_at = (now or timezone.now()) if present else None
    group.save(update_fields=["presented_at"])
    return group


def project_scoring_close(*, edition: Edition, by: User, now: datetime | None = None) -> None:
    """Close pitch scoring: the final projects become final (after the pitches only)."""
    require_staff(by, "Only staff close pitch scoring.", ProjectError)
    with transaction.atomic():
        _lock_scoring(edition)  # a ballot being saved now finishes first
        now = now or timezone.now()
        verdict = phases.project_allows(edition, phases.CLOSE_SCORING, now)
        if not verdict:
            raise ProjectError(verdict.reason)
        ProjectSettings.objects.filter(edition=edition).update(scoring_closed_at=now)


def project_scoring_reopen(*, edition: Edition, by: User) -> None:
    require_staff(by, "Only staff reopen pitch scoring.", ProjectError)
    ProjectSettings.objects.filter(edition=edition).update(scoring_closed_at=None)
