"""The staff timeline page: each competition's phase, what blocks the next step, the dates
(issue 12)."""

from datetime import timedelta

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
