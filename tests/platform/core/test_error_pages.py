"""Every error a person meets (403, 404, 405, 429, 500) is a page of the site: its navigation,
a title and a reason, also while DEBUG is on (the demo runs with it)."""

import pytest
from django.test import RequestFactory, override_settings

pytestmark = pytest.mark.django_db


def _is_friendly(response, title: str) -> str:
    html = response.content.decode()
    assert 'class="brand"' in html, "the site's navigation is missing"
    assert f"<h1>{title}</h1>" in html
    assert 'id="refusal"' in html
    return html


@pytest.mark.parametrize("debug", [False, True])
def test_a_student_forbidden_from_a_staff_page_sees_the_reason(client_as, settings, debug):
    settings.DEBUG = debug
    response = client_as("student").get("/staff/queue/")
    assert response.status_code == 403
    html = _is_friendly(response, "That is not allowed")
    assert "Only course staff can do this." in html


@pytest.mark.parametrize("debug", [False, True])
def test_an_unknown_address_is_a_friendly_404_not_the_debug_page(client_as, settings, debug):
    settings.DEBUG = debug
    for path in ("/no-such-page/", "/labs/999999/"):
        response = client_as("student").get(path)
        assert response.status_code == 404
        html = _is_friendly(response, "Page not found")
        assert "Using the URLconf" not in html and "technical" not in html


def test_a_get_on_a_post_only_page_explains_itself_and_keeps_allow(client_as):
    response = client_as("student").get("/runs/1/cancel/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    _is_friendly(response, "That page is for sending a form")


def test_the_api_keeps_answering_json(api_as):
    response = api_as("student").get("/api/entries/999999/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    # An address no API view answers: the same JSON error, not the site's page.
    response = api_as("student").get("/api/no-such-thing/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}


@override_settings(DEBUG=False)
def test_an_api_server_error_is_json(student):
    from core.errors import handler500

    request = RequestFactory().get("/api/labs/")
    request.user = student
    response = handler500(request)
    assert response.status_code == 500 and response["Content-Type"] == "application/json"


@override_settings(DEBUG=False)
def test_a_server_error_page_has_the_navigation(student):
    from core.errors import handler500

    request = RequestFactory().get("/")
    request.user = student
    response = handler500(request)
    assert response.status_code == 500
    _is_friendly(response, "Something went wrong on our side")


def test_a_stale_form_gets_the_error_page_with_its_own_reason(student):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(student)
    response = client.post("/runs/1/cancel/")
    assert response.status_code == 403
    html = _is_friendly(response, "That is not allowed")
    assert "out of date" in html


@pytest.mark.parametrize("error", ["OperationalError", "InterfaceError"])
@pytest.mark.parametrize("path", ["/", "/api/labs/"])
def test_a_database_that_does_not_answer_is_a_503_to_retry_not_a_server_error(
    client, monkeypatch, error, path
):
    """What a PostgreSQL restart looks like from a request: the connection is refused or
    was closed under it. Pages and the API answer 503 with Retry-After (clients retry)."""
    import django.db

    from courses import api, views

    def down(*args, **kwargs):
        raise getattr(django.db, error)("server closed the connection unexpectedly")

    monkeypatch.setattr(views, "edition_current", down)
    monkeypatch.setattr(api, "edition_current", down)
    client.raise_request_exception = False
    response = client.get(path)
    assert response.status_code == 503
    assert int(response["Retry-After"]) > 0
    if path.startswith("/api/"):
        assert "try again" in response.json()["detail"]
    else:
        assert "Try again in a moment" in response.content.decode()


def test_too_many_sign_ups_from_one_address_is_a_page_of_the_site(client, settings):
    settings.ACCOUNT_RATE_LIMITS = {"login_failed": None, "signup": "1/m/ip"}
    form = {
        "password1": "a-long-pass-6s191",
        "password2": "a-long-pass-6s191",
        "affiliation": "public",
    }
    first = client.post("/accounts/signup/", {**form, "email": "a@example.org", "username": "a"})
    assert first.status_code == 302
    client.logout()
    response = client.post("/accounts/signup/", {**form, "email": "b@example.org", "username": "b"})
    assert response.status_code == 429
    assert "wait a minute" in _is_friendly(response, "Too many tries from your address")
    assert response["Retry-After"] == "60"
