"""Someone who signed up themselves joins the current edition from the home page: the public
compete (without prizes), and the roster is not the only way in."""

import pytest
from django.urls import reverse

from accounts.models import Affiliation, AffiliationSource, Role
from courses.models import Enrollment
from courses.services import EnrollmentRefused, enrollment_join
from factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def public(db):
    return UserFactory(
        username="pat",
        affiliation=Affiliation.PUBLIC,
        affiliation_source=AffiliationSource.SELF,
    )


def test_a_signed_up_student_joins_the_current_edition_from_the_home_page(client, edition, public):
    client.force_login(public)
    home = client.get(reverse("home"))
    join = reverse("edition-join", args=[edition.slug])
    assert join in home.content.decode()
    response = client.post(join, follow=True)
    assert response.status_code == 200
    assert f"You joined {edition.name}" in response.content.decode()
    assert Enrollment.objects.filter(edition=edition, user=public).exists()
    public.refresh_from_db()
    assert not public.lab_prize_eligible  # joining verifies nothing
    # Enrolled: no join button any more, and joining again changes nothing.
    assert join not in client.get(reverse("home")).content.decode()
    client.post(join)
    assert Enrollment.objects.filter(edition=edition, user=public).count() == 1


def test_only_students_join(edition):
    judge = UserFactory(role=Role.JUDGE)
    with pytest.raises(EnrollmentRefused, match="Only students"):
        enrollment_join(user=judge, edition=edition)
    assert not Enrollment.objects.exists()


def test_with_sign_up_closed_only_the_roster_enrols(settings, edition, public):
    settings.ACCOUNT_SIGNUP_OPEN = False
    with pytest.raises(EnrollmentRefused, match="roster only"):
        enrollment_join(user=public, edition=edition)
    assert not Enrollment.objects.exists()


def test_joining_needs_a_login_and_a_form(client, edition):
    join = reverse("edition-join", args=[edition.slug])
    assert client.post(join).status_code == 302  # to the login page
    assert not Enrollment.objects.exists()
