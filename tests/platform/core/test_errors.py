"""One family of refusals: each app's refusal is a `Refused`; pages, the API and escaped
refusals each have one place that turns it into an answer."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.messages import get_messages
from django.contrib.messages.storage.fallback import FallbackStorage
from django.test import RequestFactory

from accounts.services import TokenError
from awards.services import AwardsError
from core.errors import RefusalMiddleware, Refused, api_exception_handler, attempt
from judging.services import JudgingRefused
from leaderboards.services import LeaderboardRefused
from projects.services import ProjectError
from submissions.services.intake import SubmissionRefused


@pytest.mark.parametrize(
    "kind",
    [TokenError, SubmissionRefused, LeaderboardRefused, JudgingRefused, ProjectError, AwardsError],
)
def test_every_apps_refusal_is_one_family(kind):
    assert issubclass(kind, Refused)


def _request():
    request = RequestFactory().post("/somewhere/")
    request.user = AnonymousUser()
    request.session = {}
    request._messages = FallbackStorage(request)
    return request


def test_attempt_shows_a_refusal_as_an_error_message():
    request = _request()

    def refuse():
        raise ProjectError("Not now.")

    assert attempt(request, refuse, "done") == (False, None)
    assert attempt(request, lambda: 7, "done") == (True, 7)
    assert [(m.level_tag, str(m)) for m in get_messages(request)] == [
        ("error", "Not now."),
        ("success", "done"),
    ]


def test_the_api_answers_a_refusal_with_its_message_and_status():
    response = api_exception_handler(TokenError("No such token.", status=404), {})
    assert (response.status_code, response.data) == (404, {"detail": "No such token."})
    assert api_exception_handler(SubmissionRefused("Too big."), {}).status_code == 400
    assert api_exception_handler(ValueError("bug"), {}) is None  # not ours: a server error


@pytest.mark.django_db
def test_a_refusal_no_view_caught_gets_the_refusal_page():
    middleware = RefusalMiddleware(lambda request: None)
    response = middleware.process_exception(_request(), JudgingRefused("Scoring is closed."))
    assert response.status_code == 400
    assert 'id="refusal">Scoring is closed.<' in response.content.decode()
    assert middleware.process_exception(_request(), ValueError("bug")) is None
