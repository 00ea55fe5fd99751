"""Red team: paths that still reopen a lab whose winners were announced (courses.phases'
results lock). The services and the lab's own admin form are guarded; these are not."""

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Affiliation, Role
from awards import services
from awards.models import Category, Prize
from courses import phases
from factories import LabFactory, UserFactory, scored_entry

pytestmark = pytest.mark.django_db


def _closed_lab_with_prize(edition, student):
    """A lab closed a day ago, one scored entry, one prize line."""
    closed = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    lab = LabFactory(
        edition=edition,
        spec_id="lab2-mnist",
        title="Lab 1",
        opens_at=closed - timedelta(days=5),
        closes_at=closed,
    )
    scored_entry(
        student, lab, {"accuracy": 90.0}, {"accuracy": 91.0}, created_at=closed - timedelta(days=2)
    )
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="Headphones")
    return lab


@pytest.fixture
def announced_lab(edition, staff, student):
    """A lab (no judges) with one prize whose winner was announced."""
    from leaderboards.services import lab_private_reveal

    lab = _closed_lab_with_prize(edition, student)
    lab_private_reveal(lab=lab, by=staff)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    assert services.awards_announce(snapshot=snapshot, by=staff, confirmed=True)
    assert phases.lab_phase(lab) == phases.Phase.FINAL
    assert phases.results_lock(lab)
    return lab


@pytest.fixture
def admin_client(client_as, staff):
    staff.is_staff = staff.is_superuser = True
    staff.save()
    return client_as("staff")


def _lab_admin_post(client, lab, **changes):
    url = reverse("admin:courses_lab_change", args=[lab.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not hasattr(v, "pk")}
    for name in ("needs_writeup", "private_revealed"):  # checkboxes: sent only when ticked
        if not data.get(name):
            data.pop(name, None)
    zone = ZoneInfo(lab.edition.time_zone)  # the admin shows and reads the edition's zone
    local_open = timezone.localtime(lab.opens_at, zone)
    local_close = timezone.localtime(lab.closes_at, zone)
    data.update(
        edition=lab.edition_id,
        opens_at_0=local_open.strftime("%Y-%m-%d"),
        opens_at_1=local_open.strftime("%H:%M:%S"),
        closes_at_0=local_close.strftime("%Y-%m-%d"),
        closes_at_1=local_close.strftime("%H:%M:%S"),
    )
    data.update(changes)
    return client.post(url, {k: v for k, v in data.items() if v is not None})


def test_the_lab_admin_cannot_withdraw_the_reveal_of_an_announced_lab(announced_lab, admin_client):
    lab = announced_lab
    # The form as staff see it, with only "Private revealed" unticked.
    response = _lab_admin_post(admin_client, lab, private_revealed=None)
    lab.refresh_from_db()
    assert lab.private_revealed, "the admin withdrew the reveal of an announced lab"
    assert phases.lab_phase(lab) == phases.Phase.FINAL
    assert response.status_code == 200  # the form again, with the reason


def test_assigning_a_judge_does_not_reopen_an_announced_lab(announced_lab, staff):
    from judging.services import JudgingRefused, judge_assign

    judge = UserFactory(role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    try:
        judge_assign(lab=announced_lab, judge=judge, by=staff)
    except JudgingRefused:
        pass  # refusing (with the lock's reason) is one fix
    # ... the other is a lab whose scoring never opened staying final; either way:
    assert phases.lab_phase(announced_lab) == phases.Phase.FINAL


def test_the_judging_admin_cannot_reopen_scoring_of_an_announced_lab(
    edition, staff, student, admin_client
):
    from judging.models import LabJudging
    from judging.services import judge_assign, lab_judging_close
    from leaderboards.services import lab_private_reveal

    lab = _closed_lab_with_prize(edition, student)
    judge_assign(lab=lab, judge=UserFactory(role=Role.JUDGE), by=staff)
    lab_private_reveal(lab=lab, by=staff)
    lab_judging_close(lab=lab, by=staff)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    assert services.awards_announce(snapshot=snapshot, by=staff, confirmed=True)
    assert phases.lab_phase(lab) == phases.Phase.FINAL

    settings_row = LabJudging.objects.get(lab=lab)
    url = reverse("admin:judging_labjudging_change", args=[settings_row.pk])
    admin_client.post(url, {"lab": lab.pk, "finalists": settings_row.finalists})  # unticked
    assert phases.lab_phase(lab) == phases.Phase.FINAL, "the admin reopened judges' scoring"


def test_deleting_the_prize_line_does_not_lift_the_results_lock(announced_lab, staff):
    from courses.services import TimelineRefused, lab_deadline_move

    # A careless clean-up of the catalog after the announcement (the snapshot keeps the
    # winner): the lab's announced result must stay locked.
    Prize.objects.filter(lab=announced_lab).delete()
    with pytest.raises(TimelineRefused, match="announced"):
        lab_deadline_move(lab=announced_lab, closes_at=timezone.now() + timedelta(days=2), by=staff)


def test_nothing_reopens_a_lab_whose_winners_were_announced(announced_lab, staff, student):
    from courses.services import TimelineRefused, extension_grant, lab_deadline_move
    from judging.services import JudgingRefused, lab_judging_reopen
    from leaderboards.services import LeaderboardRefused, lab_private_hide

    lab, later = announced_lab, timezone.now() + timedelta(days=2)
    why = "winners of Lab 1 were announced"
    with pytest.raises(TimelineRefused, match=why):
        lab_deadline_move(lab=lab, closes_at=later, by=staff)
    with pytest.raises(TimelineRefused, match=why):
        extension_grant(lab=lab, user=student, closes_at=later, reason="ill", by=staff)
    with pytest.raises(JudgingRefused, match=why):
        lab_judging_reopen(lab=lab, by=staff)
    with pytest.raises(LeaderboardRefused, match=why):
        lab_private_hide(lab=lab, by=staff)
    lab.refresh_from_db()
    assert lab.closes_at < timezone.now() and lab.private_revealed


def test_the_admin_refuses_to_reopen_an_announced_lab_with_the_reason(
    announced_lab, staff, student, client_as
):
    from courses.models import Extension

    client = client_as("staff")
    staff.is_staff = staff.is_superuser = True
    staff.save()
    lab = announced_lab
    url = reverse("admin:courses_lab_change", args=[lab.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and not hasattr(v, "pk")}
    data.update(
        edition=lab.edition_id,
        opens_at_0=timezone.localtime(lab.opens_at).strftime("%Y-%m-%d"),
        opens_at_1="00:00:00",
        closes_at_0=(timezone.localdate() + timedelta(days=3)).strftime("%Y-%m-%d"),
        closes_at_1="23:59:00",
    )
    response = client.post(url, data)
    assert response.status_code == 200  # the form again, with the reason
    assert "winners of Lab 1 were announced" in response.content.decode()
    lab.refresh_from_db()
    assert lab.closes_at < timezone.now()

    response = client.post(
        reverse("admin:courses_extension_add"),
        {
            "edition": lab.edition_id,
            "lab": lab.pk,
            "step": "lab",
            "user": student.pk,
            "closes_at_0": (timezone.localdate() + timedelta(days=3)).strftime("%Y-%m-%d"),
            "closes_at_1": "23:59:00",
            "reason": "ill",
            "granted_by": staff.pk,
            "granted_at_0": timezone.localdate().strftime("%Y-%m-%d"),
            "granted_at_1": "10:00:00",
        },
    )
    assert "winners of Lab 1 were announced" in response.content.decode()
    assert not Extension.objects.exists()
