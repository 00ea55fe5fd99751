from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from accounts.models import User
from core import charts
from core.errors import attempt
from core.permissions import require_staff
from core.scoring import fraction_text
from courses.models import Lab
from grader.specs import load_spec
from submissions.selectors import entry_latest_run, metric_rows, visible_metrics
from submissions.splits import PRIVATE, PUBLIC, sees_private

from . import services
from .materials import entry_figure, entry_materials, entry_writeup_pdf
from .rubric import COMBINATION
from .selectors import (
    access_entry_for_judging,
    access_prize_standings,
    entry_scores_for,
    finalists_of,
    finalists_wait,
    is_assigned,
    judge_list,
    judge_queue,
    judging_settings,
    lab_judges,
    lab_judging_diagnostics,
    prize_standings,
    score_of,
    scores_visible,
    scoring_progress,
)


def _lab(lab_id: int) -> Lab:
    return get_object_or_404(Lab.objects.select_related("edition"), pk=lab_id)


@login_required
def judging_home(request):
    if not (request.user.is_judge or request.user.is_course_staff):
        raise PermissionDenied("Judges and staff only.")
    labs = Lab.objects.select_related("edition") if request.user.is_course_staff else []
    return render(
        request,
        "judging/home.html",
        {"queues": judge_queue(request.user) if request.user.is_judge else [], "labs": labs},
    )


@login_required
def judging_lab(request, lab_id: int):
    require_staff(request.user)
    lab = _lab(lab_id)
    finalists = finalists_of(lab)
    assigned = {a.judge_id for a in lab_judges(lab)}
    return render(
        request,
        "judging/lab.html",
        {
            "lab": lab,
            "settings": judging_settings(lab),
            "finalists": finalists,
            "finalists_wait": finalists_wait(lab),
            "progress": scoring_progress(lab, finalists),
            "diagnostics": lab_judging_diagnostics(lab, finalists),
            "unassigned": [j for j in judge_list() if j.pk not in assigned],
        },
    )


@login_required
@require_POST
def judging_lab_update(request, lab_id: int):
    require_staff(request.user)
    lab = _lab(lab_id)
    action = request.POST.get("action")
    attempt(request, lambda: _lab_update(request, lab, action))
    return redirect("judging-lab", lab_id=lab.pk)


def _lab_update(request, lab: Lab, action: str | None) -> None:
    by = request.user
    if action == "finalists":
        try:
            count = int(request.POST.get("finalists", ""))
        except ValueError:
            raise services.JudgingRefused("Finalists must be a whole number.") from None
        services.lab_judging_configure(lab=lab, finalists=count, by=by)
        messages.success(request, f"Judges now score the top {count}.")
    elif action in ("assign", "unassign"):
        # The select is empty once every judge is assigned; a stale page may name one gone.
        judge_id = request.POST.get("judge", "")
        judge = User.objects.filter(pk=int(judge_id)).first() if judge_id.isdecimal() else None
        if judge is None:
            raise services.JudgingRefused("Choose a judge.")
        if action == "assign":
            services.judge_assign(lab=lab, judge=judge, by=by)
            messages.success(request, f"{judge} judges {lab.title}.")
        else:
            services.judge_unassign(lab=lab, judge=judge, by=by)
            messages.success(request, f"{judge} no longer judges {lab.title}.")
    elif action == "close":
        services.lab_judging_close(lab=lab, by=by)
        messages.success(request, "Scoring is closed; judges can now see all scores.")
    elif action == "reopen":
        services.lab_judging_reopen(lab=lab, by=by)
        messages.success(request, "Scoring is open again.")
    else:
        messages.error(request, "Unknown action.")


@login_required
def judging_entry(request, entry_id: int):
    entry = access_entry_for_judging(request.user, entry_id)
    lab = entry.lab
    if request.method == "POST":
        ok, _ = attempt(
            request,
            lambda: services.entry_score_submit(
                judge=request.user,
                entry=entry,
                soundness=request.POST.get("soundness"),
                descriptions=request.POST.get("descriptions"),
                comment=request.POST.get("comment", ""),
            ),
            f"Your scores for entry #{entry.pk} are saved.",
        )
        if ok:
            return redirect("judging-entry", entry_id=entry.pk)

    run = entry_latest_run(entry)
    shown = visible_metrics(entry, run, request.user)
    details = run.details if run else {}
    returns = details.get("returns")
    returns = returns if isinstance(returns, dict) else {}
    spec = load_spec(lab.spec_id)
    results_split = PRIVATE if sees_private(request.user, lab) else PUBLIC
    return render(
        request,
        "judging/entry.html",
        {
            "entry": entry,
            "lab": lab,
            "run": run,
            "metrics": metric_rows(entry, shown, run),
            "materials": entry_materials(
                entry, lambda i: reverse("judging-figure", args=[entry.pk, i])
            ),
            # The charts show the split the results table shows (submissions.splits).
            "group_chart": charts.group_accuracy_chart(
                charts.split_part(details.get("group_accuracy"), results_split)
            ),
            "roc_chart": charts.roc_chart(
                charts.split_part(details.get("roc_curve"), results_split)
            ),
            "roc_classes": charts.roc_classes(spec),
            "cam_gallery": charts.cam_gallery(
                charts.split_part(details.get("cam_samples"), results_split),
                spec.cam.labels if spec.cam else ("negative", "positive"),
                details.get("cam"),
            ),
            "return_charts": [
                (name, charts.return_chart(returns.get(name)))
                for name in shown
                if charts.return_chart(returns.get(name))
            ],
            "criterion1": spec.rubric.score(shown.get(results_split, {}).get(spec.rubric.metric)),
            "rubric_metric": spec.metric(spec.rubric.metric),
            "results_split": results_split,
            "can_score": request.user.is_judge and is_assigned(request.user, lab),
            "my_score": score_of(request.user, entry),
            "judging": judging_settings(lab),
            "scores": entry_scores_for(request.user, entry),
            "scores_visible": scores_visible(request.user, lab),
            "choices": range(1, 6),
        },
    )


@login_required
def judging_figure(request, entry_id: int, index: int):
    entry = access_entry_for_judging(request.user, entry_id)
    data = entry_figure(entry, index)
    if data is None:
        raise Http404("No such figure.")
    response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
@xframe_options_sameorigin
def judging_writeup_pdf(request, entry_id: int):
    entry = access_entry_for_judging(request.user, entry_id)
    data = entry_writeup_pdf(entry)
    if data is None:
        raise Http404("No PDF write-up.")
    response = HttpResponse(data, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="writeup-{entry.pk}.pdf"'
    response["Cache-Control"] = "private, max-age=300"
    return response


@login_required
def judging_standings(request, lab_id: int):
    lab = _lab(lab_id)
    access_prize_standings(request.user, lab)
    return render(
        request,
        "judging/standings.html",
        {
            "lab": lab,
            "results": [
                {
                    "result": r,
                    "soundness": fraction_text(r.soundness),
                    "descriptions": fraction_text(r.descriptions),
                    "combined": fraction_text(r.combined),
                }
                for r in prize_standings(lab)
            ],
            "combination": COMBINATION,
            "settings": judging_settings(lab),
        },
    )
