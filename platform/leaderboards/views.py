from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.csv_export import csv_response
from core.errors import attempt, error_page
from core.permissions import require_staff
from courses.models import Lab
from submissions.splits import PRIVATE, PUBLIC, sees_private

from . import services
from .selectors import (
    AGREEMENT_RATIO,
    AGREEMENT_Z,
    PAGE_SIZE,
    access_leaderboard,
    board_page,
    duplicate_pairs,
    leaderboard_stored,
)


def _lab(lab_id: int) -> Lab:
    return get_object_or_404(Lab.objects.select_related("edition", "board_state"), pk=lab_id)


@login_required
def leaderboard(request, lab_id: int):
    lab = _lab(lab_id)
    split = access_leaderboard(request.user, lab, request.GET.get("split"))
    try:
        number = int(request.GET.get("page", 1))
    except ValueError:
        return error_page(request, 400, "A page number is a whole number, e.g. ?page=2.")
    # Paged as the API is (one selector): a board of thousands of students is one page at a
    # time; beyond the last page (an old link) shows the last.
    paged = board_page(lab, split, request.user, number, PAGE_SIZE, clamp=True)
    board = paged.board
    return render(
        request,
        "leaderboards/leaderboard.html",
        {
            "lab": lab,
            "board": board,
            "paged": paged,
            "table": board.table_with_intervals(),
            "own_table": board.table_with_intervals([paged.own])
            if paged.own and paged.own_elsewhere
            else [],
            "other_split": (PUBLIC if split == PRIVATE else PRIVATE)
            if sees_private(request.user, lab)
            else None,
            "after_deadline": timezone.now() >= lab.closes_at,
        },
    )


@login_required
def leaderboard_csv(request, lab_id: int):
    require_staff(request.user)
    lab = _lab(lab_id)
    split = access_leaderboard(request.user, lab, request.GET.get("split"))
    board = leaderboard_stored(lab, split)
    return csv_response(
        f"leaderboard-{lab.edition.slug}-{lab.spec_id}-{split}.csv",
        ["rank", "tied", "name", "key", "reference", "prize_eligible", "entry_id"]
        + [m.name for m in board.columns],
        (
            [
                ranked.rank,
                ranked.tied,
                ranked.row.name,
                ranked.row.key,
                ranked.row.is_reference,
                ranked.row.eligible,
                ranked.row.entry_id,
                *values,
            ]
            for ranked, values in board.table()
        ),
    )


@login_required
@require_POST
def leaderboard_reveal(request, lab_id: int):
    lab = _lab(lab_id)
    if request.POST.get("action") == "hide":
        attempt(
            request,
            lambda: services.lab_private_hide(lab=lab, by=request.user),
            f"The private standings of {lab.title} are hidden again.",
        )
    else:
        attempt(
            request,
            lambda: services.lab_private_reveal(lab=lab, by=request.user),
            f"The private standings of {lab.title} are revealed.",
        )
    return redirect("leaderboard", lab_id=lab.pk)


@login_required
def leaderboard_duplicates(request, lab_id: int):
    """Staff: pairs of students whose entries look like one (to look at; nothing decided)."""
    require_staff(request.user)
    lab = _lab(lab_id)
    return render(
        request,
        "leaderboards/duplicates.html",
        {"lab": lab, "pairs": duplicate_pairs(lab), "ratio": AGREEMENT_RATIO, "z": AGREEMENT_Z},
    )
