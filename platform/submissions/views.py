import re
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.throttles import upload_refusal
from core import charts
from core.errors import attempt
from core.permissions import require_staff
from core.redirects import redirect_next
from courses import phases
from courses.models import Lab
from grader.errors import SpecError
from grader.specs import load_all_specs, load_spec

from . import blobs
from .forms import HiddenSetForm, UploadForm
from .models import GradingRun, HiddenSet, Status
from .selectors import (
    access_entry,
    entries_of,
    entry_latest_run,
    figures_split,
    metric_rows,
    run_queue_position,
    runs_in_flight,
    visible_metrics,
    visible_private_session,
)
from .services import hidden_sets, intake, reaper, runs
from .splits import sees_private
from .standing import entry_can_count
from .upload_help import upload_help


@login_required
def lab_detail(request, lab_id: int):
    lab = get_object_or_404(Lab.objects.select_related("edition"), pk=lab_id)
    form = UploadForm()
    if request.method == "POST":
        form = UploadForm(request.POST, request.FILES)
        refusal = upload_refusal(request)
        if refusal:
            messages.error(request, refusal)
        elif form.is_valid():
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
    api_url = request.build_absolute_uri(reverse("api-lab-entries", args=[lab.spec_id]))
    guide = upload_help(lab)
    wheel = grader_wheel_file()
    pip_install = ""
    if wheel is not None:
        wheel_url = request.build_absolute_uri(reverse("grader-wheel", args=[wheel.name]))
        extras = f"[{guide.extras}]" if guide.extras else ""
        pip_install = f'!pip install -q "labgrader{extras} @ {wheel_url}"'
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
            "ranking_text": guide.ranking,
            "upload_help": guide,
            "snippet_python": guide.python(api_url),
            "pip_install": pip_install,
            "snippet_curl": guide.curl(api_url),
        },
    )


@login_required
def entry_detail(request, entry_id: int):
    entry = access_entry(request.user, entry_id)
    run = entry_latest_run(entry)
    details = run.details if run and run.status == Status.SCORED else {}
    figures = figures_split(request.user, entry.lab, details)
    try:
        spec = load_spec(entry.lab.spec_id)
    except SpecError:
        spec = None
    labels = spec.cam.labels if spec and spec.cam else ("negative", "positive")
    return render(
        request,
        "submissions/entry_detail.html",
        {
            "entry": entry,
            "run": run,
            "queue_position": run_queue_position(run) if run else None,
            "metrics": metric_rows(entry, visible_metrics(entry, run, request.user), run),
            "sees_private": sees_private(request.user, entry.lab),
            "final_choice": phases.lab_allows(entry.lab, phases.CHOOSE_FINAL, user=request.user),
            "can_count": entry_can_count(entry),
            "not_countable": intake.NOT_COUNTABLE,
            "private_session": visible_private_session(entry, run, request.user),
            "events": run.events.all() if run else [],
            # The figures show one split the viewer may see (submissions.splits).
            "figures_split": figures,
            "roc_chart": charts.roc_chart(charts.split_part(details.get("roc_curve"), figures)),
            "roc_classes": charts.roc_classes(spec) if spec else "",
            "cam_gallery": charts.cam_gallery(
                charts.split_part(details.get("cam_samples"), figures), labels, details.get("cam")
            ),
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


@require_GET
def lab_sample(request, spec_id: str):
    """A lab's public sample set as a zip (public data: no login needed, as on a course site).

    Members sit under samples/<lab id>/, so that unzipping into DIR gives what
    `python -m grader grade --lab LAB ENTRY --sample --hidden-dir DIR` reads.
    """
    if not Lab.objects.filter(spec_id=spec_id).exists():
        raise Http404("no such lab")
    data = blobs.sample_zip(spec_id)
    if data is None:
        raise Http404("this lab has no public sample set")
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{spec_id}-sample.zip"'
    return response


WHEEL_NAME = re.compile(r"labgrader-[0-9][0-9A-Za-z.]*-py3-none-any\.whl")


def grader_wheel_file() -> Path | None:
    """The newest grader wheel this site offers (settings.GRADER_WHEEL_DIR), if built."""
    folder = Path(settings.GRADER_WHEEL_DIR)
    wheels = [p for p in folder.glob("labgrader-*.whl") if WHEEL_NAME.fullmatch(p.name)]
    return max(wheels, key=lambda p: p.stat().st_mtime) if wheels else None


@require_GET
def grader_wheel(request, filename: str):
    """The grader package as a wheel, for `pip install` in a notebook (public, like the
    sample sets: it holds only the grader, the lab specs and the sandbox harness)."""
    wheel = grader_wheel_file()
    if wheel is None or wheel.name != filename:
        raise Http404("no such grader wheel")
    return FileResponse(
        wheel.open("rb"), as_attachment=True, filename=wheel.name, content_type="application/zip"
    )


@require_GET
def internal_blob(request, sha256: str):
    """A stored upload or set bundle, by digest, for workers holding the deployment's token."""
    if not blobs.worker_token_ok(request.headers.get("Authorization", "")):
        return HttpResponseForbidden("worker token required")
    stored = blobs.stored_file_for(sha256)
    if stored is None:
        raise Http404("no stored file has this digest")
    return FileResponse(stored, content_type="application/octet-stream")


@login_required
def staff_hidden_sets(request):
    require_staff(request.user)
    form = HiddenSetForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        ok, hidden_set = attempt(
            request,
            lambda: hidden_sets.hidden_set_upload(
                user=request.user,
                spec_id=form.cleaned_data["spec_id"],
                upload=form.cleaned_data["bundle"],
            ),
        )
        if ok:
            messages.success(
                request,
                f"{hidden_set.spec_id}: set {hidden_set.checksum} now grades every new run.",
            )
            return redirect("staff-hidden-sets")
    specs = load_all_specs()
    current = {spec.id: blobs.current_hidden_set(spec.id) for spec in specs}
    return render(
        request,
        "submissions/staff_hidden_sets.html",
        {
            "form": form,
            "rows": [(spec, current[spec.id]) for spec in specs],
            "history": HiddenSet.objects.select_related("uploaded_by")[:50],
        },
    )
