"""Submitting from a notebook: token auth, multipart upload, clear refusals."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.services import token_create
from submissions.models import Entry
from uploads import LEFT


def _token_client(user) -> APIClient:
    _, key = token_create(user=user, name="notebook")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_upload_with_a_token_like_a_notebook(enrolled, cartpole, tmp_path):
    path = tmp_path / "agent.py"
    path.write_bytes(LEFT)
    with path.open("rb") as f:
        response = _token_client(enrolled).post(
            "/api/labs/lab3-cartpole/entries/", {"file": f, "note": "first try"}, format="multipart"
        )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "queued" and data["queue_position"] == 1
    entry = Entry.objects.get(pk=data["id"])
    assert entry.user == enrolled and entry.note == "first try"


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({}, "multipart field named 'file'"),
        ({"file": ("model.exe", b"MZ")}, "Upload a model file"),
        ({"file": ("entry.zip", b"not a zip at all")}, "zip"),
    ],
)
def test_bad_api_uploads_get_clear_errors(enrolled, cartpole, payload, message):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {k: SimpleUploadedFile(*v) for k, v in payload.items()}
    response = _token_client(enrolled).post(
        "/api/labs/lab3-cartpole/entries/", data, format="multipart"
    )
    assert response.status_code == 400
    assert message.lower() in response.json()["detail"].lower()
    assert not Entry.objects.exists()


def test_unknown_lab_is_404_and_json_body_is_refused(enrolled, cartpole):
    client = _token_client(enrolled)
    assert client.post("/api/labs/lab9-nope/entries/", {}, format="multipart").status_code == 404
    response = client.post("/api/labs/lab3-cartpole/entries/", {"file": "x"}, format="json")
    assert response.status_code == 415


def test_revoked_token_cannot_upload(enrolled, cartpole):
    token, key = token_create(user=enrolled, name="old")
    token.revoke()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post("/api/labs/lab3-cartpole/entries/", {}, format="multipart")
    assert response.status_code == 401


def test_oversized_request_is_refused_before_the_body_is_read(enrolled, cartpole, settings):
    settings.MAX_REQUEST_MB = 1
    client = _token_client(enrolled)
    response = client.post(
        "/api/labs/lab3-cartpole/entries/",
        {"file": SimpleUploadedFile("submission.py", LEFT + b"#" * 2**21)},
        format="multipart",
    )
    assert response.status_code == 413
    assert "limit of 1 MB" in response.json()["detail"]
    assert not Entry.objects.exists()


def test_an_upload_while_the_broker_restarts_is_kept_and_sent_again_by_the_reaper(
    enrolled, cartpole, monkeypatch, django_capture_on_commit_callbacks
):
    """Redis restarting when the upload commits: the student gets their 201, the run stays
    queued and unsent, and the reaper's next pass (not five minutes later) sends it."""
    from kombu.exceptions import OperationalError

    from submissions import tasks
    from submissions.models import GradingRun
    from submissions.services import reaper

    def refused(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.grade_run, "apply_async", refused)
    with django_capture_on_commit_callbacks(execute=True):
        response = _token_client(enrolled).post(
            "/api/labs/lab3-cartpole/entries/",
            {"file": SimpleUploadedFile("agent.py", LEFT)},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    run = GradingRun.objects.get(entry_id=response.json()["id"])
    assert run.status == "queued" and run.enqueued_at is None
    sent = []
    monkeypatch.setattr(tasks.grade_run, "apply_async", lambda *a, **k: sent.append(k["args"]))
    with django_capture_on_commit_callbacks(execute=True):
        assert reaper.runs_reap()["reenqueued"] == 1
    assert sent == [(run.pk,)]
