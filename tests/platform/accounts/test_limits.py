"""Request limits: API throttles (429 + Retry-After), the per-person upload rate, and the
login lockout per account and per address with its expiry and staff unlock."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse
from rest_framework.throttling import SimpleRateThrottle

from accounts.services import token_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(monkeypatch):
    """Set throttle rates for one test (DRF binds the rates dict once, at import)."""

    def set_rates(**scopes: str) -> None:
        for scope, rate in scopes.items():
            monkeypatch.setitem(SimpleRateThrottle.THROTTLE_RATES, scope, rate)

    return set_rates


def test_api_answers_429_with_retry_after_beyond_the_user_rate(api_as, rates):
    rates(user="5/min")
    api = api_as("student")
    codes = [api.get(reverse("api-me")).status_code for _ in range(7)]
    assert codes[:5] == [200] * 5
    response = api.get(reverse("api-me"))
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert "throttled" in response.json()["detail"].lower()


def test_token_requests_are_throttled_per_token_owner(client, student, other_student, rates):
    rates(user="3/min")
    _, key = token_create(user=student, name="colab")
    _, other_key = token_create(user=other_student, name="colab")
    for _ in range(3):
        assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 200
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 429
    # Another person is not slowed down by the first one's flood.
    assert client.get("/api/me/", HTTP_AUTHORIZATION=f"Token {other_key}").status_code == 200


def test_anonymous_requests_are_throttled_per_address(client, rates):
    rates(anon="2/min")
    assert [client.get("/api/labs/").status_code for _ in range(3)] == [200, 200, 429]
    assert "Retry-After" in client.get("/api/labs/")


def test_a_forged_forwarded_for_header_does_not_dodge_the_limits(client, student, rates, settings):
    rates(anon="2/min")
    codes = [
        client.get("/api/labs/", HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(3)
    ]
    assert codes == [200, 200, 429]
    for n in range(settings.AXES_FAILURE_LIMIT):
        client.post(
            reverse("login"),
            {"login": f"nobody{n}", "password": "x"},
            HTTP_X_FORWARDED_FOR=f"10.1.0.{n}",
        )
    locked = client.post(
        reverse("login"),
        {"login": "stu", "password": "pw-for-tests-1"},
        HTTP_X_FORWARDED_FOR="9.9.9.9",
    )
    assert locked.status_code == 429  # the address is the socket's, whatever the header says


def test_uploads_have_their_own_per_person_rate(api_as, debias, rates):
    rates(uploads="2/hour")
    api = api_as("student")
    url = reverse("api-lab-entries", args=[debias.spec_id])
    # Refused uploads count too: the limit is about requests, not accepted entries.
    assert [api.post(url, {}).status_code for _ in range(2)] == [400, 400]
    response = api.post(url, {})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 60  # an hourly window
    # Reading one's entries is not an upload.
    assert api.get(url).status_code == 200
    # The browser form shares the same count.
    page = api_as("student")
    web = page.post(reverse("lab-detail", args=[debias.pk]), {"note": "x"}, follow=True)
    assert b"Too many uploads" in web.content


# --- login lockout (django-axes) ---------------------------------------------------------


def _login(client, login: str, password: str, address: str = "10.0.0.1"):
    return client.post(
        reverse("login"), {"login": login, "password": password}, REMOTE_ADDR=address
    )


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_lockout_blocks_the_right_password_until_the_cool_off_ends(client, student, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "stu", "wrong")
    response = _login(client, "stu", "pw-for-tests-1")
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert not _logged_in(client)
    # Another address does not help: the account itself is locked.
    assert _login(client, "stu", "pw-for-tests-1", address="10.9.9.9").status_code == 429
    # Nor does logging in by email instead of username.
    assert _login(client, student.email, "pw-for-tests-1", address="10.9.9.8").status_code == 429
    # Once the cool-off has passed (the attempts aged past it), the right password works.
    cooloff = timedelta(hours=settings.AXES_COOLOFF_TIME)
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= cooloff + timedelta(seconds=1)
        attempt.save()
    response = _login(client, "stu", "pw-for-tests-1", address="10.9.9.7")
    assert response.status_code == 302 and _logged_in(client)


def test_lockout_per_address_covers_other_accounts(client, student, other_student, settings):
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"nobody{n}", "wrong", address="10.1.1.1")
    assert _login(client, "stu2", "pw-for-tests-1", address="10.1.1.1").status_code == 429
    assert _login(client, "stu2", "pw-for-tests-1", address="10.2.2.2").status_code == 302


def test_staff_unlock_in_the_admin(client, client_as, student, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "stu", "wrong", address="10.0.0.1")
    assert _login(client, "stu", "pw-for-tests-1", address="10.0.0.2").status_code == 429
    staff = client_as("staff")
    response = staff.post(
        reverse("admin:accounts_user_changelist"),
        {"action": "unlock_login", "_selected_action": [student.pk]},
        follow=True,
    )
    assert b"Cleared" in response.content
    assert _login(client, "stu", "pw-for-tests-1", address="10.0.0.2").status_code == 302


def test_a_success_before_the_limit_resets_the_count(client, student, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "stu", "wrong")
    assert _login(client, "stu", "pw-for-tests-1").status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _login(client, "stu", "wrong")
    assert _login(client, "stu", "pw-for-tests-1").status_code == 302


def test_staff_see_and_unlock_lockouts_on_the_people_page(
    client, client_as, student, other_student, settings
):
    """Before: only the admin's action or deleting Access attempts unlocked anyone (issue 23)."""
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, student.email, "wrong", address="10.0.0.1")  # by email: the same account
        _login(client, f"nobody{n}", "wrong", address="10.0.0.9")  # one address, many names
    assert _login(client, "stu", "pw-for-tests-1", address="10.0.0.2").status_code == 429
    assert _login(client, "stu2", "pw-for-tests-1", address="10.0.0.9").status_code == 429
    staff = client_as("staff")
    page = staff.get(reverse("staff-people")).content.decode()
    locks = page.split('id="lockouts"')[1]
    for who in ("stu", "10.0.0.1", "10.0.0.9"):
        assert f'data-lockout="{who}"' in locks
    assert "EST" in locks or "EDT" in locks  # when it ends by itself, in the course's zone
    response = staff.post(
        reverse("staff-people"), {"action": "unlock", "login": "stu"}, follow=True
    )
    assert "Unlocked stu" in response.content.decode()
    assert _login(client, "stu", "pw-for-tests-1", address="10.0.0.2").status_code == 302
    client.logout()
    staff.post(reverse("staff-people"), {"action": "unlock", "address": "10.0.0.9"})
    assert _login(client, "stu2", "pw-for-tests-1", address="10.0.0.9").status_code == 302
    page = staff.get(reverse("staff-people")).content.decode()
    assert "Nobody is locked out." in page
    # Only staff.
    response = client_as("student").post(
        reverse("staff-people"), {"action": "unlock", "login": "stu"}
    )
    assert response.status_code == 403


def test_a_class_behind_one_address_signs_up_at_once(mailoutbox):
    """A lecture hall behind the campus NAT: 40 sign-ups from one address within a minute
    all go through (allauth's own limit, 20 a minute an address, refused half the class)."""
    codes = []
    for n in range(40):
        response = Client().post(
            reverse("account_signup"),
            {
                "email": f"pub{n}@example.org",
                "username": f"pub{n}",
                "password1": "a-long-pass-6s191",
                "password2": "a-long-pass-6s191",
                "affiliation": "public",
            },
        )
        codes.append(response.status_code)
    assert codes == [302] * 40
    assert len(mailoutbox) == 40  # each gets their confirmation link
