"""Red team: reminders to people with nothing left to do (or nothing they may do)."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from factories import EnrollmentFactory, ProjectSettingsFactory
from notifications.services import reminders_send
from projects.models import PaperReview

pytestmark = pytest.mark.django_db


def test_a_student_who_submitted_a_paper_review_is_not_told_to_sign_up_for_a_pitch(
    edition, student, other_student
):
    EnrollmentFactory(edition=edition, user=student)
    EnrollmentFactory(edition=edition, user=other_student)
    ProjectSettingsFactory(edition=edition, signup_deadline=timezone.now() + timedelta(hours=5))
    # The review is the alternative to a pitch: projects refuse this student any group.
    PaperReview.objects.create(
        edition=edition, user=student, paper_title="Attention", file="paper_reviews/x.pdf"
    )
    reminders_send()
    assert [m.to[0] for m in mail.outbox] == [other_student.email]
