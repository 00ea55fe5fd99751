"""The staff timeline page: each competition's phase, what blocks the next step, the dates
(issue 12)."""

from datetime import datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Role
from factories import LabFactory, ProjectGroupFactory, ProjectSettingsFactory, scored_entry
from judging.services import judge_assign
from leaderboards.services import lab_private_reveal
from projects.services import conflict_declare

pytestmark = pytest.mark.django_db


def test_the_timeline_names_phases_blockers_and_dates(
    edition, staff, judge, student, make_user, client_as
):
    now = timezone.now()
    LabFactory(edition=edition, title="Lab 1", opens_at=now - timedelta(days=1))
    lab2 = LabFactory(
        edition=edition,
        spec_id="lab2-debias",
        title="Lab 2",
        opens_at=now - timedelta(days=5),
        closes_at=now - timedelta(days=1),
    )
    for i in range(3):
        scored_entry(  # lab 2 ranks (so picks finalists) by mean_group_auc
            make_user(), lab2, {"mean_group_auc": 0.7 + i / 100}, {"mean_group_auc": 0.6 + i / 100}
        )
    judge_assign(lab=lab2, judge=judge, by=staff)
    judge_assign(lab=lab2, judge=make_user(role=Role.JUDGE), by=staff)
    lab_private_reveal(lab=lab2, by=staff)
    ProjectSettingsFactory(edition=edition)
    group = ProjectGroupFactory(edition=edition, name="Turing Machines")
    for each in (judge, *[u for u in type(judge).objects.filter(role=Role.JUDGE) if u != judge]):
        conflict_declare(judge=each, group=group, reason="advisor")

    page = client_as("staff").get(reverse("staff-timeline")).content.decode()
    assert "Lab 1 closes" in page and ("EST" in page or "EDT" in page)
    assert "Lab 2 judging: 0 of 3 finalists scored by 2 judges." in page
    assert "Group Turing Machines: every judge is conflicted." in page
    assert "pitch sign-up closes" in page
    assert client_as("student").get(reverse("staff-timeline")).status_code == 403


# --- staff grant extensions here, not in the admin (issue 23) -----------------------------


def test_staff_grant_an_extension_on_the_timeline(edition, staff, student, client_as):
    from zoneinfo import ZoneInfo

    from courses.models import Extension

    lab = LabFactory(edition=edition, title="Lab 1", closes_at=timezone.now() + timedelta(days=2))
    client = client_as("staff")
    page = client.get(reverse("staff-timeline")).content.decode()
    assert 'id="grant-extension"' in page and "New deadline (America/New_York (E" in page
    response = client.post(
        reverse("staff-timeline"),
        {
            "what": f"lab:{lab.pk}",
            "student": student.email.upper(),  # by username or email
            "closes_at": "2030-01-30T23:59",
            "reason": "hospital stay",
        },
        follow=True,
    )
    extension = Extension.objects.get()
    # Typed in the edition's zone: 11:59 pm Eastern, not UTC.
    assert extension.closes_at == datetime(2030, 1, 30, 23, 59, tzinfo=ZoneInfo(edition.time_zone))
    assert (extension.lab, extension.user, extension.reason) == (lab, student, "hospital stay")
    page = response.content.decode()
    assert "Extension granted" in page and "January 30, 2030, 11:59 pm EST" in page
    assert "hospital stay" in page.split('id="extension-list"')[1]
    # A final-project step, and a person who does not exist.
    client.post(
        reverse("staff-timeline"),
        {"what": "step:slides", "student": "stu", "closes_at": "2030-02-01T12:00", "reason": "x"},
    )
    assert Extension.objects.filter(step="slides", user=student, lab=None).exists()
    page = client.post(
        reverse("staff-timeline"),
        {"what": "step:slides", "student": "ghost", "closes_at": "2030-02-01T12:00", "reason": "x"},
    ).content.decode()
    assert "No account with the username or email “ghost”" in page


def test_the_timeline_refuses_an_extension_with_the_rules_reason(
    edition, staff, student, client_as
):
    from courses.models import Extension
    from factories import EnrollmentFactory

    lab = LabFactory(
        edition=edition,
        title="Lab 2",
        opens_at=timezone.now() - timedelta(days=5),
        closes_at=timezone.now() - timedelta(days=1),
    )
    EnrollmentFactory(edition=edition, user=student)
    lab_private_reveal(lab=lab, by=staff)
    form = {
        "what": f"lab:{lab.pk}",
        "student": "stu",
        "closes_at": "2030-01-30T23:59",
        "reason": "x",
    }
    page = client_as("staff").post(reverse("staff-timeline"), form).content.decode()
    assert "has already seen the private split of Lab 2" in page
    assert 'value="2030-01-30T23:59"' in page  # what staff typed stays in the form
    assert not Extension.objects.exists()
    for name in ("student", "judge"):
        assert client_as(name).post(reverse("staff-timeline"), form).status_code == 403
    assert not Extension.objects.exists()
