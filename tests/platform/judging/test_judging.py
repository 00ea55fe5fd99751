"""Lab judging: assignment, finalists, who reads which entry, hidden scores until scoring
closes, the prize standings, and the entry materials (write-up, figures, PDF, songs)."""

from datetime import timedelta
from fractions import Fraction

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from core import charts
from factories import UserFactory, scored_entry
from judging import services
from judging.models import EntryScore
from judging.selectors import access_entry_for_judging, finalists_of, prize_standings
from threads import Elsewhere


def test_finalists_are_the_top_n_of_the_private_standings(finalists, closed_debias):
    keys = [r.row.entry_id for r in finalists_of(closed_debias)]
    assert keys == [finalists["student"].pk, finalists["other"].pk]  # 0.96 and 0.85 on private


def test_who_may_read_an_entry_for_judging(finalists, judge, staff, student, other_student):
    finalist, outsider = finalists["student"], finalists["third"]
    assert access_entry_for_judging(judge, finalist.pk) == finalist
    assert access_entry_for_judging(staff, outsider.pk) == outsider
    from django.http import Http404

    with pytest.raises(Http404):
        access_entry_for_judging(judge, outsider.pk)  # not a finalist
    with pytest.raises(Http404):
        access_entry_for_judging(other_student, finalist.pk)  # a student, even a finalist
    unassigned = UserFactory(role=Role.JUDGE)
    with pytest.raises(Http404):
        access_entry_for_judging(unassigned, finalist.pk)


@pytest.mark.parametrize(
    ("name", "status"), [("anonymous", 302), ("student", 404), ("judge", 200), ("staff", 200)]
)
def test_judging_page_by_role(finalists, client_as, name, status):
    response = client_as(name).get(reverse("judging-entry", args=[finalists["student"].pk]))
    assert response.status_code == status


def test_a_judge_cannot_see_other_judges_scores_before_scoring_closes(
    finalists, closed_debias, judge, staff, client_as
):
    entry = finalists["student"]
    rival = UserFactory(username="rival", role=Role.JUDGE)
    services.judge_assign(lab=closed_debias, judge=rival, by=staff)
    services.entry_score_submit(
        judge=rival, entry=entry, soundness=2, descriptions=1, comment="RIVAL-COMMENT"
    )
    url = reverse("judging-entry", args=[entry.pk])
    html = client_as("judge").get(url).content.decode()
    assert "RIVAL-COMMENT" not in html and "scores-hidden" in html
    assert "RIVAL-COMMENT" in client_as("staff").get(url).content.decode()
    # Nor the combined standings, which would give them away.
    standings = reverse("judging-standings", args=[closed_debias.pk])
    assert client_as("judge").get(standings).status_code == 403
    services.lab_judging_close(lab=closed_debias, by=staff)
    assert "RIVAL-COMMENT" in client_as("judge").get(url).content.decode()
    assert client_as("judge").get(standings).status_code == 200


def test_scoring_rules(finalists, closed_debias, judge, staff):
    entry = finalists["student"]
    with pytest.raises(services.JudgingRefused, match="1 to 5"):
        services.entry_score_submit(judge=judge, entry=entry, soundness=6, descriptions=3)
    with pytest.raises(services.JudgingRefused, match="finalists"):
        services.entry_score_submit(
            judge=judge, entry=finalists["third"], soundness=3, descriptions=3
        )
    with pytest.raises(services.JudgingRefused, match="not a judge"):
        services.entry_score_submit(judge=staff, entry=entry, soundness=3, descriptions=3)
    services.entry_score_submit(judge=judge, entry=entry, soundness="4", descriptions="")
    services.entry_score_submit(judge=judge, entry=entry, soundness="4", descriptions="5")
    score = EntryScore.objects.get()
    assert (score.soundness, score.descriptions) == (4, 5)
    services.lab_judging_close(lab=closed_debias, by=staff)
    with pytest.raises(services.JudgingRefused, match="closed"):
        services.entry_score_submit(judge=judge, entry=entry, soundness=1, descriptions=1)
    with pytest.raises(services.JudgingRefused):
        services.judge_assign(lab=closed_debias, judge=UserFactory(), by=staff)  # not a judge


@pytest.mark.django_db(transaction=True)
def test_a_score_saved_while_staff_close_judging_waits_for_the_close_and_is_refused(
    finalists, closed_debias, judge, staff
):
    entry = finalists["student"]
    with transaction.atomic():
        services.lab_judging_close(lab=closed_debias, by=staff)
        score = Elsewhere(
            lambda: services.entry_score_submit(
                judge=judge, entry=entry, soundness=4, descriptions=4
            ),
            services.JudgingRefused,
        )
        score.give_time()  # the close is not committed yet
    assert score.outcome() == f"Scoring of {closed_debias.title} is closed."
    assert not EntryScore.objects.exists()


def test_prize_standings_combine_the_rubric(finalists, closed_debias, judge, staff, client_as):
    # Criterion 1 from the private metric: 0.96 -> 5/5, 0.85 -> 3/5 (thresholds 0.7/0.8/0.9/0.95).
    services.entry_score_submit(
        judge=judge, entry=finalists["student"], soundness=2, descriptions=2
    )
    services.entry_score_submit(judge=judge, entry=finalists["other"], soundness=5, descriptions=5)
    results = prize_standings(closed_debias)
    assert [(r.finalist.entry_id, r.finalist.results, r.combined, r.rank) for r in results] == [
        (finalists["other"].pk, 3, Fraction(13, 3), 1),  # (3 + 5 + 5) / 3
        (finalists["student"].pk, 5, Fraction(3), 2),  # (5 + 2 + 2) / 3
    ]
    html = (
        client_as("staff")
        .get(reverse("judging-standings", args=[closed_debias.pk]))
        .content.decode()
    )
    assert "Combined score = (criterion 1 + judges" in html and "criterion 3) / 3" in html


def test_staff_manage_judges_and_finalists(closed_debias, staff, judge, client_as):
    client = client_as("staff")
    url = reverse("judging-lab-update", args=[closed_debias.pk])
    client.post(url, {"action": "assign", "judge": judge.pk})
    client.post(url, {"action": "finalists", "finalists": "3"})
    closed_debias.refresh_from_db()
    assert closed_debias.judging.finalists == 3
    assert closed_debias.judge_assignments.get().judge == judge
    assert client_as("judge").post(url, {"action": "close"}).status_code == 403
    assert client.get(reverse("judging-lab", args=[closed_debias.pk])).status_code == 200
    client.post(url, {"action": "unassign", "judge": judge.pk})
    assert not closed_debias.judge_assignments.exists()


def test_assigning_a_malformed_or_missing_judge_is_refused_with_a_message(
    closed_debias, staff, client_as
):
    # The select is empty once every judge is assigned (the browser sends no judge), or a
    # stale page names one that is gone: a message on the lab's page, not an error page.
    client = client_as("staff")
    url = reverse("judging-lab-update", args=[closed_debias.pk])
    for data in (
        {"action": "assign"},
        {"action": "assign", "judge": "abc"},
        {"action": "unassign", "judge": "999999"},
        {"action": "assign", "judge": "\u00b2"},
        {"action": "assign", "judge": "9" * 30},
    ):
        response = client.post(url, data, follow=True)
        assert response.status_code == 200
        assert "Choose a judge." in response.content.decode()
    assert not closed_debias.judge_assignments.exists()


# --- materials --------------------------------------------------------------------------


WRITEUP = b"""# My approach

I resampled the **dark-skinned** faces. ![curve](figures/loss.png) ![pixel](https://tracker.example/p.png)

<script>alert("x")</script><a href="javascript:alert(1)">click</a>
"""


def test_writeup_figures_and_pdf_are_served_safely(finalists, store_zip, png, client_as, judge):
    entry = finalists["student"]
    store_zip(
        entry,
        {
            "submission.py": b"def predict(x):\n    return x\n",
            "writeup.md": WRITEUP,
            "writeup.pdf": b"%PDF-1.4\n%fake but well-typed\n",
            "figures/loss.png": png(),
            "figures/fake.png": b"<svg onload=alert(1)>",
        },
    )
    client = client_as("judge")
    html = client.get(reverse("judging-entry", args=[entry.pk])).content.decode()
    assert "<h1>My approach</h1>" in html and "<strong>dark-skinned</strong>" in html
    assert "<script>alert" not in html and "javascript:" not in html
    assert "tracker.example" not in html  # no outside images
    # figures are sorted: fake.png is 0, loss.png is 1; the write-up's image points at 1.
    assert f'src="{reverse("judging-figure", args=[entry.pk, 1])}"' in html
    figure = client.get(reverse("judging-figure", args=[entry.pk, 1]))
    assert figure.status_code == 200 and figure["Content-Type"] == "image/png"
    assert client.get(reverse("judging-figure", args=[entry.pk, 0])).status_code == 404
    assert client.get(reverse("judging-figure", args=[entry.pk, 7])).status_code == 404
    pdf = client.get(reverse("judging-writeup-pdf", args=[entry.pk]))
    assert pdf["Content-Type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert pdf["Content-Disposition"].startswith("inline")
    # The same files are closed to a judge for entries outside the finalists.
    other = finalists["third"]
    store_zip(other, {"figures/a.png": png(), "writeup.pdf": b"%PDF-1.4\n"})
    assert client.get(reverse("judging-figure", args=[other.pk, 0])).status_code == 404
    assert client.get(reverse("judging-writeup-pdf", args=[other.pk])).status_code == 404


def test_a_pdf_that_is_not_a_pdf_is_not_served(finalists, store_zip, client_as):
    entry = finalists["student"]
    store_zip(entry, {"writeup.pdf": b"<html><script>alert(1)</script>"})
    assert (
        client_as("judge").get(reverse("judging-writeup-pdf", args=[entry.pk])).status_code == 404
    )


def test_oversized_figures_are_refused(finalists, store_zip, png, client_as, monkeypatch):
    from judging import materials

    monkeypatch.setattr(materials, "MAX_FIGURE_BYTES", 10)
    entry = finalists["student"]
    store_zip(entry, {"figures/big.png": png(64, 64)})
    assert client_as("judge").get(reverse("judging-figure", args=[entry.pk, 0])).status_code == 404


def test_charts_from_the_grader_report(closed_debias, cartpole, student, staff, client_as):
    face = scored_entry(
        student,
        closed_debias,
        {"debias_accuracy": 80.0},
        details={
            "group_accuracy": {"private": {"LF": 90.0, "LM": 85.0, "DF": 60.0, "DM": 70.0}},
            "roc_curve": {"private": {"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.8, 1.0]}},
        },
    )
    html = client_as("staff").get(reverse("judging-entry", args=[face.pk])).content.decode()
    assert html.count('<rect class="bar"') == 4 and 'id="roc-chart"' in html
    policy = scored_entry(
        student,
        cartpole,
        {"mean_return": 20.0, "episodes": 2.0},
        details={"returns": {"public": [10.0, 30.0], "private": [50.0]}},
    )
    html = client_as("staff").get(reverse("judging-entry", args=[policy.pk])).content.decode()
    assert html.count("return-chart") == 2  # staff see both splits
    # Metrics read as on every page (core.scoring.metric_text): a whole count stays whole.
    assert '<td>Episodes</td><td class="num">2</td>' in html
    assert '<td>Mean return</td><td class="num">20.000</td>' in html


def test_queue_and_progress_grid_name_a_ballot_as_the_pitch_pages_do(
    finalists, closed_debias, judge
):
    from core.scoring import COMPLETE, PARTIAL, TO_SCORE
    from judging.selectors import judge_queue, scoring_progress

    entry = finalists["student"]
    (queue,) = judge_queue(judge)
    assert {item.state for item in queue.items} == {TO_SCORE}
    services.entry_score_submit(judge=judge, entry=entry, soundness="4", descriptions="")
    (queue,) = judge_queue(judge)
    assert PARTIAL in {item.state for item in queue.items}
    services.entry_score_submit(judge=judge, entry=entry, soundness="4", descriptions="5")
    (queue,) = judge_queue(judge)
    assert COMPLETE in {item.state for item in queue.items} and queue.done == 1
    (row,) = scoring_progress(closed_debias, finalists_of(closed_debias))
    assert COMPLETE in row["cells"] and TO_SCORE in row["cells"]


@pytest.mark.parametrize(
    ("viewer", "lab_open", "split", "shown", "hidden"),
    [("judge", False, "private", "100.0", "50.0"), ("staff", True, "private", "100.0", "50.0")],
)
def test_the_charts_show_the_split_of_the_table_beside_them(
    debias, student, judge, staff, client_as, viewer, lab_open, split, shown, hidden
):
    # Staff read an entry of an open lab on the private split; a judge reads finalists only,
    # once every window has closed, on the private split too.
    if not lab_open:
        debias.closes_at = timezone.now() - timedelta(hours=1)
        debias.save()
    entry = scored_entry(
        student,
        debias,
        # Ranked (so a finalist) by lab 2's mean_group_auc; the charts show group accuracies.
        {"debias_accuracy": 70.0, "mean_group_auc": 0.7},
        {"debias_accuracy": 90.0, "mean_group_auc": 0.9},
        details={
            "group_accuracy": {
                "public": {"LF": 90.0, "LM": 90.0, "DF": 50.0, "DM": 80.0},
                "private": {"LF": 90.0, "LM": 90.0, "DF": 100.0, "DM": 80.0},
            },
            "roc_curve": {
                "public": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.5, 1.0]},
                "private": {"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0]},
            },
        },
    )
    services.lab_judging_configure(lab=debias, finalists=1, by=staff)
    services.judge_assign(lab=debias, judge=judge, by=staff)
    response = client_as(viewer).get(reverse("judging-entry", args=[entry.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["results_split"] == split
    assert f"DF: {shown}%" in html and f"DF: {hidden}%" not in html
    assert f"({split} split)" in html
    mid = {"public": (0.5, 0.5), "private": (0.1, 0.9)}[split]
    assert response.context["roc_chart"] == charts.roc_chart(
        {"fpr": [0.0, mid[0], 1.0], "tpr": [0.0, mid[1], 1.0]}
    )


def test_whole_set_chart_data_of_older_runs_is_not_charted(closed_debias, student, client_as):
    entry = scored_entry(
        student,
        closed_debias,
        {"debias_accuracy": 70.0},
        details={"group_accuracy": {"LF": 90.0, "LM": 85.0, "DF": 75.0, "DM": 70.0}},
    )
    html = client_as("staff").get(reverse("judging-entry", args=[entry.pk])).content.decode()
    assert 'id="group-chart"' not in html


def test_lab_judging_diagnostics_as_pitches_have_them(
    finalists, closed_debias, judge, make_user, staff, client_as
):
    from judging.selectors import lab_judging_diagnostics

    second = make_user(username="judge2", role=Role.JUDGE)
    services.judge_assign(lab=closed_debias, judge=second, by=staff)
    a, b = finalists["student"], finalists["other"]
    # judge: 5 and 3 (mean 4, sd 1); judge2: 4 and 4 (no spread: z 0)
    for j, entry, score in ((judge, a, 5), (judge, b, 3), (second, a, 4), (second, b, 4)):
        services.entry_score_submit(judge=j, entry=entry, soundness=score, descriptions=score)
    diag = lab_judging_diagnostics(closed_debias, finalists_of(closed_debias))
    stats = {d["judge"].username: d for d in diag["judges"]}
    assert (stats[judge.username]["mean"], stats[judge.username]["spread"]) == ("4", 1.0)
    assert stats["judge2"]["spread"] == 0.0
    entries = {e["entry_id"]: e for e in diag["entries"]}
    assert entries[a.pk]["disagreement"] == "1" and entries[a.pk]["mean_z"] == 0.5
    assert entries[b.pk]["mean_z"] == -0.5
    html = client_as("staff").get(reverse("judging-lab", args=[closed_debias.pk])).content.decode()
    assert 'class="diagnostics entries"' in html and f'data-entry="{a.pk}"' in html


def test_no_finalists_while_a_window_is_open(
    debias, student, other_student, judge, staff, client_as
):
    """The finalists are the top of the private standings: a judge assigned to an open lab
    (or one whose deadline passed while a student's extension runs) saw them (issue 23)."""
    from courses.services import extension_grant

    top = scored_entry(student, debias, {"mean_group_auc": 0.7}, {"mean_group_auc": 0.9})
    scored_entry(other_student, debias, {"mean_group_auc": 0.8}, {"mean_group_auc": 0.6})
    services.lab_judging_configure(lab=debias, finalists=1, by=staff)
    services.judge_assign(lab=debias, judge=judge, by=staff)

    def judge_sees_finalists() -> bool:
        client = client_as("judge")
        page = client.get(reverse("judging-home")).content.decode()
        opened = client.get(reverse("judging-entry", args=[top.pk])).status_code == 200
        assert ("the finalists are chosen when the last window closes" in page) != opened
        return opened

    assert finalists_of(debias) == [] and not judge_sees_finalists()
    with pytest.raises(services.JudgingRefused, match="not among the lab's finalists"):
        services.entry_score_submit(judge=judge, entry=top, soundness=4, descriptions=4)
    # The deadline passes, but another student's extension still runs: still none.
    extension_grant(
        lab=debias,
        user=other_student,
        closes_at=timezone.now() + timedelta(days=8),
        reason="illness",
        by=staff,
    )
    debias.closes_at = timezone.now() - timedelta(hours=1)
    debias.save()
    assert finalists_of(debias) == [] and not judge_sees_finalists()
    staff_page = client_as("staff").get(reverse("judging-lab", args=[debias.pk])).content.decode()
    assert "the finalists are chosen when the last window closes" in staff_page
    # Every window closed: the top of the private standings is the finalist.
    debias.extensions.all().delete()
    assert [r.row.entry_id for r in finalists_of(debias)] == [top.pk]
    assert judge_sees_finalists()
