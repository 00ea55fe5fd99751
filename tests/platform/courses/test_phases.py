"""A lab's phase (courses.phases): the moves, extensions and deadline moves (issue 12)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from courses import phases
from courses.models import Lab
from courses.services import TimelineRefused, extension_grant, lab_deadline_move
from factories import LabFactory, UserFactory
from judging.services import judge_assign, lab_judging_close
from leaderboards.services import LeaderboardRefused, lab_private_reveal

pytestmark = pytest.mark.django_db

NOW = timezone.now()


@pytest.fixture
def lab(edition):
    return LabFactory(
        edition=edition, title="Lab 1", opens_at=NOW - timedelta(days=2), closes_at=NOW
    )


def test_the_phase_follows_the_dates_the_reveal_and_judging(lab, staff, judge):
    assert phases.lab_phase(lab, NOW - timedelta(days=3)) == phases.Phase.DRAFT
    assert phases.lab_phase(lab, NOW - timedelta(hours=1)) == phases.Phase.OPEN
    assert phases.lab_phase(lab, NOW) == phases.Phase.CLOSED
    lab_private_reveal(lab=lab, by=staff, now=NOW)
    assert phases.lab_phase(lab, NOW) == phases.Phase.FINAL  # no judges: the reveal suffices
    judge_assign(lab=lab, judge=judge, by=staff)
    assert phases.lab_phase(lab, NOW) == phases.Phase.JUDGING
    lab_judging_close(lab=lab, by=staff)
    assert phases.lab_phase(lab, NOW) == phases.Phase.FINAL


def test_an_extension_keeps_the_lab_open_until_the_last_window(lab, staff, student):
    extension_grant(
        lab=lab, user=student, closes_at=NOW + timedelta(days=2), reason="illness", by=staff
    )
    assert phases.lab_phase(lab, NOW + timedelta(days=1)) == phases.Phase.OPEN
    assert phases.lab_phase(lab, NOW + timedelta(days=2)) == phases.Phase.CLOSED
    assert phases.student_deadline(lab, student) == NOW + timedelta(days=2)
    other = UserFactory()
    assert phases.student_deadline(lab, other) == lab.closes_at
    assert not phases.lab_allows(lab, phases.UPLOAD, user=other, now=NOW + timedelta(hours=1))
    assert phases.lab_allows(lab, phases.UPLOAD, user=student, now=NOW + timedelta(hours=1))


def test_extensions_are_staff_only_need_a_reason_and_end_after_the_deadline(lab, staff, student):
    later = NOW + timedelta(days=1)
    with pytest.raises(TimelineRefused):
        extension_grant(lab=lab, user=student, closes_at=later, reason="x", by=student)
    with pytest.raises(TimelineRefused, match="reason"):
        extension_grant(lab=lab, user=student, closes_at=later, reason=" ", by=staff)
    with pytest.raises(TimelineRefused, match="after the lab's deadline"):
        extension_grant(lab=lab, user=student, closes_at=NOW, reason="x", by=staff)


def test_moving_the_deadline_into_the_future_drops_the_reveal(lab, staff):
    """Item 5: a reveal does not survive an extension of the lab's deadline."""
    lab.closes_at = timezone.now() - timedelta(minutes=1)
    lab.save()
    lab_private_reveal(lab=lab, by=staff)
    assert phases.reveal_in_force(lab)
    lab = lab_deadline_move(lab=lab, closes_at=timezone.now() + timedelta(days=1), by=staff)
    assert not Lab.objects.get(pk=lab.pk).private_revealed
    assert phases.lab_phase(lab) == phases.Phase.OPEN
    # When the new deadline passes, staff reveal again: the old reveal does not come back.
    assert not phases.reveal_in_force(lab, timezone.now() + timedelta(days=2))


def test_the_reveal_is_refused_before_the_deadline_with_the_date(lab, staff):
    lab = lab_deadline_move(lab=lab, closes_at=NOW + timedelta(days=1), by=staff)
    with pytest.raises(LeaderboardRefused, match="Lab 1 closes .* (EST|EDT)"):
        lab_private_reveal(lab=lab, by=staff, now=NOW)


def test_judging_closes_only_after_the_last_window(lab, staff, student):
    from judging.services import JudgingRefused

    extension_grant(
        lab=lab, user=student, closes_at=timezone.now() + timedelta(days=1), reason="x", by=staff
    )
    with pytest.raises(JudgingRefused, match="the last window closes"):
        lab_judging_close(lab=lab, by=staff)


def test_the_admin_form_checks_an_extension_as_the_service_does(lab, staff, student):
    from django.core.exceptions import ValidationError

    from courses.models import Extension

    early = Extension(
        edition=lab.edition,
        lab=lab,
        user=student,
        closes_at=lab.closes_at,
        reason="x",
        granted_by=staff,
    )
    with pytest.raises(ValidationError, match="after the lab's deadline"):
        early.clean()
