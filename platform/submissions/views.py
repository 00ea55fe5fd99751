from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import attempt
from core.permissions import require_staff
from core.redirects import redirect_next
from courses import phases
from courses.models import Lab

from .forms import UploadForm
from .models import GradingRun
from .selectors import (
    access_entry,
    entries_of,
    entry_latest_run,
    metric_rows,
    run_queue_position,
    runs_in_flight,
    visible_metrics,
    visible_private_session,
)
from .services import intake, reaper, runs
from .splits import sees_private


@login_required
def lab_detail(request, lab_id: int):
    lab = get_object_or_404(Lab.objects.select_related("edition"), pk=lab_id)
    form = UploadForm()
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            ok, entry = attempt(
                request,
                lambda: intake.entry_submit(
                    user=request.user,
                    lab=lab,
                    upload=form.cleaned_data["file"],
                    note=form.cleaned_data["note"],
                ),
            )
            if ok:
                messages.success(request, f"Entry #{entry.pk} is queued for grading.")
                return redirect("entry-detail", entry_id=entry.pk)
    entries = list(entries_of(request.user, lab).prefetch_related("runs"))
    upload = phases.lab_allows(
        lab, phases.UPLOAD, user=request.user if request.user.is_student else None
    )
    return render(
        request,
        "submissions/lab_detail.html",
        {
            "lab": lab,
            "form": form,
            "entries": entries,
            # The student's own window (an extension keeps it open), and why not otherwise.
            "is_open": bool(upload),
            "upload": upload,
            "counted": sum(1 for e in entries if e.counts_toward_quota),
        },
    )


@login_required
def entry_detail(request, entry_id: int):
    entry = access_entry(request.user, entry_id)
    run = entry_latest_run(entry)
    return render(
        request,
        "submissions/entry_detail.html",
        {
            "entry": entry,
            "run": run,
            "queue_position": run_queue_position(run) if run else None,
            "metrics": metric_rows(entry, visible_metrics(entry, run, request.user)),
            "sees_private": sees_private(request.user, entry.lab),
            "final_choice": phases.lab_allows(entry.lab, phases.CHOOSE_FINAL, user=request.user),
            "private_session": visible_private_session(entry, run, request.user),
            "events": run.events.all() if run else [],
        },
    )


@login_required
def entry_download(request, entry_id: int):
    entry = access_entry(request.user, entry_id)
    return FileResponse(entry.file.open("rb"), as_attachment=True, filename=entry.original_name)


@login_required
@require_POST
def entry_mark_final(request, entry_id: int):
    entry = access_entry(request.user, entry_id)
    attempt(
        request,
        lambda: intake.entry_mark_final(user=request.user, entry=entry),
        f"Entry #{entry.pk} is now your final entry for {entry.lab.title}.",
    )
    return redirect("entry-detail", entry_id=entry.pk)


@login_required
@require_POST
def entry_regrade(request, entry_id: int):
    require_staff(request.user)
    entry = access_entry(request.user, entry_id)
    runs.entry_regrade(entry=entry, by=request.user)
    messages.success(request, f"Entry #{entry.pk} is queued for a re-grade.")
    return redirect("entry-detail", entry_id=entry.pk)


@login_required
@require_POST
def run_cancel(request, run_id: int):
    require_staff(request.user)
    run = get_object_or_404(GradingRun, pk=run_id)
    if runs.run_cancel(run=run, by=request.user):
        messages.success(request, f"Run {run.pk} of entry #{run.entry_id} cancelled.")
    else:
        messages.error(request, f"Run {run.pk} had already finished.")
    return redirect_next(request, "staff-queue")


@login_required
@require_POST
def lab_regrade_all(request, lab_id: int):
    require_staff(request.user)
    lab = get_object_or_404(Lab, pk=lab_id)
    count = runs.lab_regrade_all(lab=lab, by=request.user)
    messages.success(request, f"{count} entries of {lab.title} queued for a re-grade.")
    return redirect("staff-queue")


@login_required
def staff_queue(request):
    require_staff(request.user)
    now = timezone.now()
    in_flight = [
        {"run": run, "silent": run.is_silent(now, reaper.HEARTBEAT_STALE)}
        for run in runs_in_flight()
    ]
    labs = Lab.objects.select_related("edition").order_by("edition", "position")
    return render(
        request, "submissions/staff_queue.html", {"runs": in_flight, "labs": labs, "now": now}
    )
