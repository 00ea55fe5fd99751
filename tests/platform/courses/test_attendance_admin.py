"""Staff take a course's attendance in the admin for many enrollments at once."""

import pytest

from factories import EditionFactory, EnrollmentFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/courses/enrollment/"


def _act(client, action: str, enrollments) -> None:
    response = client.post(
        CHANGELIST,
        {"action": action, "_selected_action": [e.pk for e in enrollments]},
        follow=True,
    )
    assert response.status_code == 200


def test_staff_mark_the_selected_enrollments_attended_and_can_undo_it(client_as):
    edition = EditionFactory()
    present = EnrollmentFactory.create_batch(3, edition=edition)
    absent = EnrollmentFactory(edition=edition)
    staff = client_as("staff")

    _act(staff, "mark_attended", present)
    for enrollment in (*present, absent):
        enrollment.refresh_from_db()
    assert [e.attended for e in (*present, absent)] == [True, True, True, False]
    _act(staff, "mark_not_attended", present[:1])
    present[0].refresh_from_db()
    assert present[0].attended is False


def test_a_student_cannot_mark_attendance(client_as):
    enrollment = EnrollmentFactory()
    client_as("student").post(
        CHANGELIST, {"action": "mark_attended", "_selected_action": [enrollment.pk]}
    )
    enrollment.refresh_from_db()
    assert enrollment.attended is False
