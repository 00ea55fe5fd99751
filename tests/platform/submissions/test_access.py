"""Nobody sees what is not theirs: entries, files, logs and private-split scores, by role."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from submissions.models import GradingRun, Status
from submissions.services import intake, reaper, runs
from uploads import LEFT, upload

SECRET_LOG = "log line only the owner and staff may read"


@pytest.fixture
def scored_entry(enrolled, cartpole):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT))
    run = entry.runs.get()
    GradingRun.objects.filter(pk=run.pk).update(status=Status.SCORING)
    runs.run_transition(
        run.pk,
        Status.SCORED,
        metrics={"mean_return": 9.5},
        split_metrics={"public": {"mean_return": 10.0}, "private": {"mean_return": 9.25}},
        logs=SECRET_LOG,
    )
    return entry


def _owner_or_staff(name: str) -> bool:
    return name in {"student", "staff"}


@pytest.mark.parametrize("route", ["entry-detail", "entry-download"])
def test_entry_pages_by_role(persona, scored_entry, route):
    name, client = persona
    response = client.get(reverse(route, args=[scored_entry.pk]))
    if name == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    elif _owner_or_staff(name):
        assert response.status_code == 200
    else:
        assert response.status_code == 404


def test_other_students_see_nothing(client_as, api_as, scored_entry, other_student):
    client = client_as("other_student")
    for route in ("entry-detail", "entry-download"):
        response = client.get(reverse(route, args=[scored_entry.pk]))
        assert response.status_code == 404
        assert SECRET_LOG.encode() not in response.content
    api = api_as("other_student")
    assert api.get(f"/api/entries/{scored_entry.pk}/").status_code == 404
    listed = api.get(f"/api/labs/{scored_entry.lab.spec_id}/entries/").json()
    assert listed == []
    lab_page = client.get(reverse("lab-detail", args=[scored_entry.lab.pk])).content.decode()
    assert f"/entries/{scored_entry.pk}/" not in lab_page
    assert "No entries yet." in lab_page


def test_entry_api_by_role(api_as, scored_entry):
    assert api_as("anonymous").get(f"/api/entries/{scored_entry.pk}/").status_code in (401, 403)
    assert api_as("judge").get(f"/api/entries/{scored_entry.pk}/").status_code == 404
    assert api_as("student").get(f"/api/entries/{scored_entry.pk}/").status_code == 200
    assert api_as("staff").get(f"/api/entries/{scored_entry.pk}/").status_code == 200


def test_students_see_public_scores_only_until_revealed(client_as, api_as, scored_entry):
    page = client_as("student").get(reverse("entry-detail", args=[scored_entry.pk]))
    body = page.content.decode()
    assert "Public test split" in body and "10.000" in body
    assert "9.250" not in body and "Private test split" not in body
    data = api_as("student").get(f"/api/entries/{scored_entry.pk}/").json()
    assert data["metrics"] == {"public": {"mean_return": 10.0}}

    staff_data = api_as("staff").get(f"/api/entries/{scored_entry.pk}/").json()
    assert staff_data["metrics"]["private"] == {"mean_return": 9.25}

    # A reveal holds only once the deadline has passed (issue 12: it never reaches a
    # student who can still upload), so the lab closes first.
    lab = scored_entry.lab
    lab.closes_at = timezone.now() - timedelta(minutes=1)
    lab.opens_at = min(lab.opens_at, lab.closes_at - timedelta(days=1))
    lab.private_revealed = True
    lab.save()
    data = api_as("student").get(f"/api/entries/{scored_entry.pk}/").json()
    assert data["metrics"]["private"] == {"mean_return": 9.25}


def test_logs_are_shown_as_text_never_html(client_as, enrolled, cartpole):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT))
    run = entry.runs.get()
    GradingRun.objects.filter(pk=run.pk).update(status=Status.RUNNING)
    runs.run_transition(
        run.pk, Status.FAILED, reason="<b>boom</b>", logs="<script>alert('x')</script>"
    )
    body = client_as("student").get(reverse("entry-detail", args=[entry.pk])).content.decode()
    assert "<script>alert('x')</script>" not in body
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body
    assert "<b>boom</b>" not in body


def test_download_returns_the_uploaded_bytes_to_the_owner(client_as, scored_entry):
    response = client_as("student").get(reverse("entry-download", args=[scored_entry.pk]))
    assert b"".join(response.streaming_content) == LEFT
    assert "attachment" in response["Content-Disposition"]


@pytest.mark.parametrize("route", ["staff-queue"])
def test_staff_queue_is_staff_only(persona, route):
    name, client = persona
    response = client.get(reverse(route))
    expected = {"anonymous": 302, "student": 403, "judge": 403, "staff": 200}[name]
    assert response.status_code == expected


def test_staff_queue_marks_a_run_whose_worker_went_silent_as_stuck(client_as, enrolled, cartpole):
    run = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT)).runs.get()
    stuck = 'running</span> <span class="badge bad">stuck</span>'
    GradingRun.objects.filter(pk=run.pk).update(status=Status.RUNNING, heartbeat_at=timezone.now())
    page = client_as("staff").get(reverse("staff-queue")).content.decode()
    assert f"#{run.entry_id}</a>" in page and stuck not in page
    stale = timezone.now() - reaper.HEARTBEAT_STALE - timedelta(seconds=1)
    GradingRun.objects.filter(pk=run.pk).update(heartbeat_at=stale)
    page = client_as("staff").get(reverse("staff-queue")).content.decode()
    assert f"#{run.entry_id}</a>" in page and stuck in page


def test_only_staff_cancel_and_regrade(client_as, scored_entry):
    run = scored_entry.runs.get()
    for name in ("student", "judge"):
        client = client_as(name)
        assert client.post(reverse("entry-regrade", args=[scored_entry.pk])).status_code == 403
        assert client.post(reverse("run-cancel", args=[run.pk])).status_code == 403
        assert (
            client.post(reverse("lab-regrade-all", args=[scored_entry.lab.pk])).status_code == 403
        )
    assert scored_entry.runs.count() == 1
    client_as("staff").post(reverse("entry-regrade", args=[scored_entry.pk]))
    assert scored_entry.runs.count() == 2


@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_cancel_does_not_follow_an_off_site_next(client_as, scored_entry, target):
    run = scored_entry.runs.get()
    response = client_as("staff").post(reverse("run-cancel", args=[run.pk]), {"next": target})
    assert response.status_code == 302 and response.url == reverse("staff-queue")


def test_cancel_goes_back_to_the_entry_page(client_as, scored_entry):
    run = scored_entry.runs.get()
    page = reverse("entry-detail", args=[scored_entry.pk])
    response = client_as("staff").post(reverse("run-cancel", args=[run.pk]), {"next": page})
    assert response.url == page


def test_student_marks_own_entry_final_only(client_as, scored_entry):
    client_as("other_student").post(reverse("entry-final", args=[scored_entry.pk]))
    scored_entry.participant.refresh_from_db()
    assert scored_entry.participant.final_entry is None
    client_as("student").post(reverse("entry-final", args=[scored_entry.pk]))
    scored_entry.participant.refresh_from_db()
    assert scored_entry.participant.final_entry == scored_entry
