from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from core.csv_export import csv_response
from core.errors import attempt
from core.permissions import require_staff
from courses.forms import ExtensionGrantForm
from courses.selectors import edition_current, extension_list

from . import services
from .models import AwardSnapshot
from .pass_report import pass_report
from .phases import awards_blockers
from .timeline import edition_timeline


def _staff_edition(request):
    """Staff pages act on the current edition."""
    require_staff(request.user)
    edition = edition_current()
    if edition is None:
        raise PermissionDenied("No course edition yet.")
    return edition


@login_required
def awards_staff(request):
    edition = _staff_edition(request)
    return render(
        request,
        "awards/staff.html",
        {
            "edition": edition,
            "categories": services.awards_preview(edition),
            "snapshots": edition.award_snapshots.select_related("confirmed_by", "announced_by"),
            "announced": services.snapshot_latest(edition, announced=True),
            "blockers": awards_blockers(edition),
        },
    )


@login_required
@require_POST
def tie_resolve(request):
    edition = _staff_edition(request)
    scope = request.POST.get("scope", "")
    positions = {
        key.removeprefix("pos:"): value
        for key, value in request.POST.items()
        if key.startswith("pos:")
    }
    try:
        order = sorted(positions, key=lambda key: int(positions[key]))
    except ValueError:
        messages.error(request, "Give every tied entrant a position number.")
    else:
        attempt(
            request,
            lambda: services.tie_resolve(edition=edition, scope=scope, keys=order, by=request.user),
            "Tie resolved.",
        )
    return redirect("awards-staff")


@login_required
@require_POST
def awards_confirm(request):
    edition = _staff_edition(request)
    ok, snapshot = attempt(
        request,
        lambda: services.awards_confirm(
            edition=edition, by=request.user, reason=request.POST.get("reason", "")
        ),
    )
    if ok:
        messages.success(request, f"Version {snapshot.version} confirmed and frozen.")
    return redirect("awards-staff")


@login_required
def awards_announce(request, snapshot_id: int):
    """GET: the summary (who gets what) and what still blocks; POST with `confirm`: announce."""
    edition = _staff_edition(request)
    snapshot = get_object_or_404(AwardSnapshot, pk=snapshot_id, edition=edition)
    if request.method != "POST" or request.POST.get("confirm") != "yes":
        return render(
            request,
            "awards/announce.html",
            {
                "edition": edition,
                "snapshot": snapshot,
                "summary": services.announce_summary(snapshot),
                "blockers": awards_blockers(edition),
                "asked": request.method == "POST",
            },
        )
    ok, announced = attempt(
        request,
        lambda: services.awards_announce(snapshot=snapshot, by=request.user, confirmed=True),
    )
    if ok and announced:
        messages.success(request, f"Version {snapshot.version} announced; winners emailed.")
    elif ok:
        messages.info(request, f"Version {snapshot.version} was already announced.")
    return redirect("awards-staff")


@login_required
def awards_csv(request, snapshot_id: int):
    edition = _staff_edition(request)
    snapshot = get_object_or_404(AwardSnapshot, pk=snapshot_id, edition=edition)
    return csv_response(
        f"awards-{edition.slug}-v{snapshot.version}.csv",
        ["category", "prize", "rank", "winner", "score", "eligible"],
        (
            [
                category["title"],
                award["prize"],
                award["rank"],
                award["name"],
                award["score"],
                award["eligible"],
            ]
            for category in snapshot.data["categories"]
            for award in category["awards"]
        ),
    )


def winners(request):
    edition = edition_current()
    snapshot = services.snapshot_latest(edition, announced=True) if edition else None
    return render(request, "awards/winners.html", {"edition": edition, "snapshot": snapshot})


@login_required
def pass_report_page(request):
    edition = _staff_edition(request)
    labs, rows = pass_report(edition)
    if request.GET.get("format") == "csv":
        return csv_response(
            f"pass-{edition.slug}.csv",
            [
                "username",
                "name",
                "affiliation",
                *[lab.spec_id for lab in labs],
                "final project",
                "attended",
                "result",
            ],
            (
                [
                    row.username,
                    row.name,
                    row.affiliation,
                    *["yes" if row.labs[lab.spec_id] else "no" for lab in labs],
                    row.project or "no",
                    "yes" if row.attended else "no",
                    "pass" if row.passed else "not yet",
                ]
                for row in rows
            ),
        )
    return render(
        request, "awards/pass_report.html", {"edition": edition, "labs": labs, "rows": rows}
    )


@login_required
def timeline_staff(request):
    """Every lab's and the final projects' phase, what blocks the next step, the next dates;
    and the extensions staff grant from here (POST), with the rules' reasons when refused."""
    edition = _staff_edition(request)
    form = ExtensionGrantForm(edition, request.POST or None)
    if request.method == "POST" and form.is_valid():
        ok, extension = attempt(request, lambda: form.grant(by=request.user))
        if ok:
            messages.success(
                request,
                f"Extension granted: {extension.user} until "
                f"{edition.format_time(extension.closes_at)}.",
            )
            return redirect(reverse("staff-timeline") + "#extensions")
    return render(
        request,
        "awards/timeline.html",
        {
            "edition": edition,
            "rows": edition_timeline(edition),
            "form": form,
            "extensions": extension_list(edition),
        },
    )
