from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.models import Role, User
from core.csv_export import csv_response
from core.errors import attempt
from core.redirects import redirect_next
from core.scoring import fraction_text
from courses.models import Edition
from courses.selectors import edition_current
from judging.models import PITCH_CRITERIA, PitchCriterion

from . import phases, selectors, services
from .models import Conflict, Invitation, PaperReview, ProjectGroup


def _edition(slug: str) -> Edition:
    return get_object_or_404(Edition, slug=slug)


def _group(group_id: int) -> ProjectGroup:
    return get_object_or_404(ProjectGroup.objects.select_related("edition"), pk=group_id)


def _home_url(edition: Edition) -> str:
    return reverse("projects-home", args=[edition.slug])


# --- students ---------------------------------------------------------------------------


def projects_current(request):
    edition = edition_current()
    if edition is None:
        raise Http404("No course edition yet.")
    return redirect("projects-home", edition.slug)


@login_required
def projects_home(request, edition_slug: str):
    edition = _edition(edition_slug)
    user = request.user
    group = selectors.group_for_user(edition, user)
    return render(
        request,
        "projects/home.html",
        {
            "edition": edition,
            "config": selectors.project_settings_for(edition),
            "group": group,
            "sent_invitations": group.invitations.filter(status="pending").select_related("invitee")
            if group
            else [],
            "invitations": selectors.invitations_for_user(edition, user),
            "review": selectors.review_for_user(edition, user),
            "now": timezone.now(),
        },
    )


@login_required
@require_POST
def group_create(request, edition_slug: str):
    edition = _edition(edition_slug)
    attempt(
        request,
        lambda: services.group_create(
            edition=edition, user=request.user, name=request.POST.get("name", "")
        ),
        "Group created. Invite up to four more people.",
    )
    return redirect(_home_url(edition))


@login_required
def group_detail(request, group_id: int):
    group = selectors.access_group(request.user, _group(group_id))
    group = selectors.group_list(group.edition).get(pk=group.pk)
    return render(
        request,
        "projects/group.html",
        {
            "group": group,
            "config": selectors.project_settings_for(group.edition),
            "is_member": request.user in group.member_users(),
        },
    )


@login_required
def group_slides(request, group_id: int):
    group = selectors.access_group(request.user, _group(group_id))
    if not group.slides_file:
        raise Http404("No slides uploaded.")
    return FileResponse(
        group.slides_file.open("rb"),
        content_type="application/pdf",
        filename=f"{group.name} slides.pdf",
    )


@login_required
@require_POST
def invitation_create(request, group_id: int):
    group = _group(group_id)
    username = request.POST.get("username", "")
    attempt(
        request,
        lambda: services.invitation_create(group=group, inviter=request.user, username=username),
        f"Invitation sent to {username.strip()}.",
    )
    return redirect(_home_url(group.edition))


@login_required
@require_POST
def invitation_respond(request, invitation_id: int, action: str):
    invitation = get_object_or_404(
        Invitation.objects.select_related("group__edition"), pk=invitation_id
    )
    actions: dict[str, tuple[Callable[..., object], str]] = {
        "accept": (services.invitation_accept, "You joined {group}."),
        "decline": (services.invitation_decline, "Invitation to {group} declined."),
        "cancel": (services.invitation_cancel, "Invitation cancelled."),
    }
    if action not in actions:
        raise Http404
    service, text = actions[action]
    attempt(
        request,
        lambda: service(invitation=invitation, user=request.user),
        text.format(group=invitation.group.name),
    )
    return redirect(_home_url(invitation.group.edition))


@login_required
@require_POST
def group_leave(request, group_id: int):
    group = _group(group_id)
    attempt(
        request,
        lambda: services.membership_leave(group=group, user=request.user),
        f"You left {group.name}.",
    )
    return redirect(_home_url(group.edition))


@login_required
@require_POST
def pitch_signup(request, group_id: int):
    group = _group(group_id)
    if request.POST.get("withdraw"):
        attempt(
            request,
            lambda: services.pitch_withdraw(group=group, user=request.user),
            "Your group withdrew from the pitches.",
        )
    else:
        attempt(
            request,
            lambda: services.pitch_signup(
                group=group, user=request.user, title=request.POST.get("title", "")
            ),
            "Your group is signed up to pitch.",
        )
    return redirect(_home_url(group.edition))


@login_required
@require_POST
def slides_submit(request, group_id: int):
    group = _group(group_id)
    attempt(
        request,
        lambda: services.slides_submit(
            group=group,
            user=request.user,
            upload=request.FILES.get("slides"),
            url=request.POST.get("slides_url", ""),
        ),
        "Slides saved.",
    )
    return redirect(_home_url(group.edition))


@login_required
@require_POST
def review_submit(request, edition_slug: str):
    edition = _edition(edition_slug)
    upload = request.FILES.get("file")
    if upload is None:
        messages.error(request, "Choose your 1-page review as a PDF.")
    else:
        attempt(
            request,
            lambda: services.review_submit(
                edition=edition,
                user=request.user,
                paper_title=request.POST.get("paper_title", ""),
                upload=upload,
            ),
            "Paper review submitted. Staff will mark it pass or fail.",
        )
    return redirect(_home_url(edition))


@login_required
def review_file(request, review_id: int):
    review = selectors.access_review(request.user, get_object_or_404(PaperReview, pk=review_id))
    return FileResponse(
        review.file.open("rb"), content_type="application/pdf", filename="review.pdf"
    )


# --- judges -----------------------------------------------------------------------------


@login_required
def judging(request, edition_slug: str):
    edition = _edition(edition_slug)
    if not request.user.is_judge:
        raise PermissionDenied("Only judges score pitches.")
    return render(
        request,
        "projects/judging.html",
        {
            "edition": edition,
            "items": selectors.groups_to_score(request.user, edition),
            "my_conflicts": selectors.conflict_list(edition).filter(judge=request.user),
            "config": selectors.project_settings_for(edition),
            "scoring": phases.project_allows(edition, phases.SCORE),
        },
    )


@login_required
def score_sheet(request, group_id: int):
    group = selectors.access_group_scoring(request.user, _group(group_id))
    if request.method == "POST":
        changes = {c: request.POST.get(c, "") for c in PITCH_CRITERIA}
        changes["comment"] = request.POST.get("comment", "")
        saved, _ = attempt(
            request,
            lambda: services.ballot_save(judge=request.user, group=group, changes=changes),
            f"Scores for {group.name} saved.",
        )
        if saved:
            return redirect_next(request, "projects-score", group.pk)
        return redirect("projects-score", group.pk)
    items = selectors.groups_to_score(request.user, group.edition)
    ids = [item.group.pk for item in items]
    position = ids.index(group.pk)
    ballot = selectors.ballot_for(request.user, group)
    group = selectors.group_list(group.edition).get(pk=group.pk)
    values = ballot.scores() if ballot else {}
    criteria = [
        {"name": c.value, "label": c.label, "value": values.get(c.value), "index": i}
        for i, c in enumerate(PitchCriterion, start=1)
    ]
    return render(
        request,
        "projects/score.html",
        {
            "group": group,
            "ballot": ballot,
            "criteria": criteria,
            "choices": range(1, 6),
            "position": position + 1,
            "total": len(ids),
            "previous": items[position - 1].group if position > 0 else None,
            "next": items[position + 1].group if position + 1 < len(items) else None,
            "edition": group.edition,
            "scoring": phases.project_allows(group.edition, phases.SCORE),
        },
    )


@login_required
@require_POST
def conflict_declare(request, group_id: int):
    group = _group(group_id)
    if not request.user.is_judge:
        raise PermissionDenied("Only judges declare conflicts.")
    ok, _ = attempt(
        request,
        lambda: services.conflict_declare(
            judge=request.user, group=group, reason=request.POST.get("reason", "")
        ),
        f"Conflict with {group.name} recorded; it is off your list (you can undo it below).",
    )
    if not ok:
        return redirect_next(request, "projects-judging", group.edition.slug)
    return redirect("projects-judging", group.edition.slug)


@login_required
@require_POST
def conflict_withdraw(request, conflict_id: int):
    conflict = get_object_or_404(Conflict.objects.select_related("group__edition"), pk=conflict_id)
    edition_slug = conflict.group.edition.slug
    attempt(
        request,
        lambda: services.conflict_withdraw(user=request.user, conflict=conflict),
        f"The conflict with {conflict.group.name} is undone.",
    )
    return redirect_next(request, "projects-judging", edition_slug)


# --- staff ------------------------------------------------------------------------------


@login_required
def dashboard(request, edition_slug: str):
    edition = selectors.access_standings(request.user, _edition(edition_slug))
    config = selectors.project_settings_for(edition)
    standings = selectors.standings_for(edition)
    groups, progress = selectors.scoring_progress(edition)
    schedule = [
        {"group": g, "starts_at": config.slot_starts_at(g.slot) if config and g.slot else None}
        for g in groups
    ]
    names = {j.judge.pk: j.judge for j in progress}
    rows = [{"result": r, "final_text": fraction_text(r.final)} for r in standings.groups]
    judge_stats = [
        {
            "judge": names.get(s.judge_id) or User.objects.get(pk=s.judge_id),
            "stats": s,
            "mean": fraction_text(s.mean),
            "lowest": fraction_text(s.lowest),
            "highest": fraction_text(s.highest),
        }
        for s in standings.judges.values()
    ]
    return render(
        request,
        "projects/dashboard.html",
        {
            "edition": edition,
            "config": config,
            "standings": standings,
            "rows": rows,
            "groups": groups,
            "schedule": schedule,
            "progress": progress,
            "judge_stats": judge_stats,
            "conflicts": selectors.conflict_list(edition),
            "reviews": selectors.review_list(edition),
            "all_groups": selectors.group_list(edition),
            "judges": selectors.judge_list(),
            "phase": phases.project_phase(edition),
            "phase_reason": phases.project_phase_reason(edition),
            "close_scoring": phases.project_allows(edition, phases.CLOSE_SCORING),
            "attendance": phases.project_allows(edition, phases.MARK_ATTENDANCE),
            "presented": selectors.presented_group_ids(edition),
        },
    )


@login_required
def ballots_csv(request, edition_slug: str):
    edition = selectors.access_standings(request.user, _edition(edition_slug))
    return csv_response(
        f"{edition.slug}-pitch-ballots.csv",
        [
            "group",
            "slot",
            "judge",
            *PITCH_CRITERIA,
            "complete",
            "judge_score",
            "comment",
            f"updated ({edition.time_zone})",
        ],
        (
            [
                ballot.group.name,
                ballot.group.slot or "",
                ballot.judge.username,
                *[ballot.scores()[c] or "" for c in PITCH_CRITERIA],
                "yes" if ballot.is_complete else "no",
                fraction_text(ballot.score),
                ballot.comment,
                edition.format_time(ballot.updated_at),
            ]
            for ballot in selectors.ballots_for_edition(edition)
        ),
    )


@login_required
@require_POST
def schedule_generate(request, edition_slug: str):
    edition = selectors.access_standings(request.user, _edition(edition_slug))
    groups = services.schedule_generate(edition=edition, user=request.user)
    messages.success(request, f"Schedule set: {len(groups)} pitches.")
    return redirect(reverse("projects-dashboard", args=[edition.slug]) + "#schedule")


@login_required
@require_POST
def schedule_move(request, group_id: int):
    group = _group(group_id)
    selectors.access_standings(request.user, group.edition)
    offset = -1 if request.POST.get("direction") == "up" else 1
    attempt(request, lambda: services.schedule_move(group=group, user=request.user, offset=offset))
    return redirect(reverse("projects-dashboard", args=[group.edition.slug]) + "#schedule")


@login_required
@require_POST
def attendance_mark(request, group_id: int):
    """Staff mark a group present at the pitch session, or undo it (the schedule's button)."""
    group = _group(group_id)
    selectors.access_standings(request.user, group.edition)
    present = request.POST.get("present") == "yes"
    attempt(
        request,
        lambda: services.pitch_attendance_mark(group=group, by=request.user, present=present),
        f"{group.name}: {'marked present' if present else 'no longer marked present'}.",
    )
    return redirect(reverse("projects-dashboard", args=[group.edition.slug]) + "#schedule")


@login_required
@require_POST
def scoring_close(request, edition_slug: str):
    """Staff close pitch scoring: the final projects become final (after the pitches)."""
    edition = selectors.access_standings(request.user, _edition(edition_slug))
    attempt(
        request,
        lambda: services.project_scoring_close(edition=edition, by=request.user),
        "Pitch scoring is closed: the final projects are final.",
    )
    return redirect(reverse("projects-dashboard", args=[edition.slug]) + "#session")


@login_required
@require_POST
def conflict_add(request, edition_slug: str):
    edition = selectors.access_standings(request.user, _edition(edition_slug))
    judge = User.objects.filter(username=request.POST.get("judge", ""), role=Role.JUDGE).first()
    group_id = request.POST.get("group", "")
    group = (
        ProjectGroup.objects.filter(edition=edition, pk=int(group_id)).first()
        if group_id.isdecimal()
        else None
    )
    if judge is None or group is None:
        messages.error(request, "Choose a judge and a group.")
    else:
        services.conflict_add(
            user=request.user, judge=judge, group=group, reason=request.POST.get("reason", "")
        )
        messages.success(request, f"{judge.username} is now conflicted with {group.name}.")
    return redirect(reverse("projects-dashboard", args=[edition.slug]) + "#conflicts")


@login_required
@require_POST
def review_mark(request, review_id: int):
    review = get_object_or_404(PaperReview.objects.select_related("edition"), pk=review_id)
    attempt(
        request,
        lambda: services.review_mark(
            review=review, user=request.user, status=request.POST.get("status", "")
        ),
        f"Review by {review.user.username} marked.",
    )
    return redirect(reverse("projects-dashboard", args=[review.edition.slug]) + "#reviews")
