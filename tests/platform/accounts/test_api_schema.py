"""The API's OpenAPI 3 schema: valid, complete, and true of the running site for every role.

The schema is generated from the serializers that make each answer. Schemathesis sends
generated requests (valid and invalid) to the live site with each role's token; every answer
must be documented (status, content type, body) and none may be a server error. Bodies are
checked strictly: an object may hold only the properties the schema documents (a field the
code returns and the schema does not name fails), as do the answers each role gets for the
real entry, board, ballots and standings of the fixture course.
"""

import copy
import html
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import schemathesis
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from rest_framework.throttling import SimpleRateThrottle

from accounts.services import token_create
from celery_helpers import use_broker
from factories import (
    EnrollmentFactory,
    EntryFactory,
    GradingRunFactory,
    LabFactory,
    PitchBallotFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    standing_refresh,
)

API_VIEWS = [
    "/api/me/",
    "/api/tokens/",
    "/api/tokens/{token_id}/",
    "/api/labs/",
    "/api/labs/{spec_id}/entries/",
    "/api/entries/{entry_id}/",
    "/api/labs/{spec_id}/leaderboard/",
    "/api/projects/{edition_slug}/judging/",
    "/api/projects/{edition_slug}/standings/",
    "/api/projects/groups/{group_id}/ballot/",
    "/api/projects/groups/{group_id}/scores/",
]
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    ]
)


def _schema(client) -> dict:
    response = client.get(reverse("api-schema"), {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def strict(schema: dict) -> dict:
    """The schema with every documented answer's objects closed: no property beyond those
    named (OpenAPI leaves them open by default, so an undocumented field would pass)."""
    schema = copy.deepcopy(schema)

    def close(node):
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    for name, component in schema["components"]["schemas"].items():
        if not name.endswith("Request"):  # what is sent stays as generated
            close(component)
    return schema


@pytest.mark.django_db
def test_schema_is_valid_openapi_3_and_describes_every_endpoint(client):
    schema = _schema(client)
    validate_schema(schema)  # drf-spectacular's OpenAPI 3.0 JSON Schema
    assert schema["openapi"].startswith("3.")
    assert sorted(schema["paths"]) == sorted(API_VIEWS)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            codes = set(operation["responses"])
            assert "429" in codes, (path, method)  # every operation is throttled
            assert operation.get("summary"), (path, method)
            if path != "/api/labs/":
                assert {"401", "403"} <= codes, (path, method)
                assert {"token": []} in operation["security"], (path, method)
    assert schema["components"]["securitySchemes"]["token"]["name"] == "Authorization"


@pytest.mark.django_db
def test_schema_documents_the_notebook_upload_the_readme_shows(client):
    upload = _schema(client)["paths"]["/api/labs/{spec_id}/entries/"]["post"]
    body = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"]
    fields = _schema(client)["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert fields["required"] == ["file"]
    assert fields["properties"]["file"]["format"] == "binary"
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    assert '/api/labs/lab2-debias/entries/",' in readme
    assert 'files={"file": open("entry.zip", "rb")}' in readme
    assert '"Authorization": f"Token {TOKEN}"' in readme
    assert set(upload["responses"]) >= {"201", "400", "401", "403", "404", "429"}


def test_lab_page_shows_the_documented_upload(client_as, course):
    lab = course["lab"]
    page = client_as("student").get(reverse("lab-detail", args=[lab.pk])).content.decode()
    page = html.unescape(page)  # the snippet is shown as text: its quotes are escaped
    assert f"/api/labs/{lab.spec_id}/entries/" in page
    assert 'files={"file": f}' in page and "Authorization" in page and "Token {TOKEN}" in page
    assert reverse("api-docs") in page


@pytest.mark.django_db
def test_docs_page_serves_its_assets_from_this_site(client):
    page = client.get(reverse("api-docs")).content.decode()
    assert "swagger-ui" in page
    assert "cdn" not in page.lower() and "https://" not in page
    asset = page.split('src="', 1)[1].split('"', 1)[0]
    assert asset.startswith("/static/")


@pytest.fixture
def course(transactional_db, edition, student, judge, staff):
    now = timezone.now()
    edition.slug = "iap-2027"  # the schema's example slug, so generated requests find it
    edition.save()
    lab = LabFactory(
        edition=edition,
        spec_id="lab2-debias",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=1),
    )
    EnrollmentFactory(edition=edition, user=student)
    run = GradingRunFactory(
        entry=EntryFactory(lab=lab, user=student),
        split_metrics={
            "public": {"mean_group_auc": 0.9, "worst_group_auc": 0.8},
            "private": {"mean_group_auc": 0.85, "worst_group_auc": 0.7},
        },
        split_intervals={"public": {"mean_group_auc": [0.8, 0.95]}},
        logs="loaded the model\n",
        # What staff see of an interactive lab's private episodes (students: after the reveal).
        private_session={"status": "scored", "reason": "", "logs": "", "wall_time_s": 1.5},
    )
    standing_refresh(run.entry)  # the board has the student's row
    ProjectSettingsFactory(edition=edition)
    group = ProjectGroupFactory(edition=edition, members=[student], slot=1)
    PitchBallotFactory(judge=judge, group=group, novelty=4, soundness=3, clarity=None)
    return {"lab": lab, "entry": run.entry, "group": group}


ROLES = ["anonymous", "student", "judge", "staff"]


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_only_what_the_schema_documents(role, course, live_server, request):
    schema = schemathesis.openapi.from_dict(strict(_schema(Client())))
    session = requests.Session()
    if role != "anonymous":
        _, key = token_create(user=request.getfixturevalue(role), name="schema")
        session.headers["Authorization"] = f"Token {key}"
    entry, group = course["entry"], course["group"]
    calls = [
        ("/api/me/", "/api/me/"),
        ("/api/tokens/", "/api/tokens/"),
        ("/api/labs/", "/api/labs/"),
        ("/api/labs/{spec_id}/entries/", "/api/labs/lab2-debias/entries/"),
        ("/api/entries/{entry_id}/", f"/api/entries/{entry.pk}/"),
        ("/api/labs/{spec_id}/leaderboard/", "/api/labs/lab2-debias/leaderboard/"),
        ("/api/projects/{edition_slug}/judging/", "/api/projects/iap-2027/judging/"),
        ("/api/projects/{edition_slug}/standings/", "/api/projects/iap-2027/standings/"),
        ("/api/projects/groups/{group_id}/ballot/", f"/api/projects/groups/{group.pk}/ballot/"),
        ("/api/projects/groups/{group_id}/scores/", f"/api/projects/groups/{group.pk}/scores/"),
    ]
    answered = {}
    for template, path in calls:
        response = session.get(live_server.url + path, timeout=30)
        schema[template]["GET"].validate_response(response)  # raises, naming what differs
        answered[template] = response
    # The bodies that matter were there to check: the entry, with its log, to its owner
    # and staff; the board's rows; the judge's ballot; the staff's standings.
    if role in ("student", "staff"):
        body = answered["/api/entries/{entry_id}/"].json()
        assert body["log"] == "loaded the model\n"
        assert answered["/api/labs/{spec_id}/leaderboard/"].json()["rows"]
    if role == "staff":
        assert body["private_session"]["status"] == "scored"
        assert answered["/api/projects/{edition_slug}/standings/"].json()["groups"]
    if role == "judge":
        assert answered["/api/projects/groups/{group_id}/ballot/"].json()["novelty"] == 4


@pytest.mark.parametrize("role", ROLES)
def test_every_documented_path_answers_as_documented(role, course, live_server, request, tmp_path):
    use_broker("memory://")  # an upload that passes the checks is queued, never graded here
    # Generous rates: the fuzzer's burst is not what this test is about (test_limits is).
    rates = SimpleRateThrottle.THROTTLE_RATES
    saved = dict(rates)
    rates.update(user="100000/min", anon="100000/min", uploads="100000/min")
    headers = []
    if role != "anonymous":
        _, key = token_create(user=request.getfixturevalue(role), name="schemathesis")
        headers = ["-H", f"Authorization: Token {key}"]
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps(strict(_schema(Client()))))
    try:
        # Revoking a token goes last, alone: it may revoke the very token the run uses.
        for selection in (["--exclude-operation-id", REVOKE], ["--include-operation-id", REVOKE]):
            result = _schemathesis(schema, live_server.url, [*headers, *selection])
            assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
            assert "FAILURES" not in result.stdout, result.stdout[-6000:]
            assert " passed" in result.stdout.rsplit("SUMMARY", 1)[-1], result.stdout[-3000:]
    finally:
        rates.clear()
        rates.update(saved)


REVOKE = "tokens_destroy"


def _schemathesis(schema: Path, url: str, extra: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            str(schema),
            "--url",
            url,
            "--checks",
            CHECKS,
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            "12",
            "--workers",
            "1",
            "--seed",
            "191",
            "--request-timeout",
            "30",
            "--suppress-health-check",
            "all",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
