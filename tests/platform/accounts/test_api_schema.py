"""The API's OpenAPI 3 schema: valid, complete, and true of the running site for every role.

Schemathesis reads the schema from the live site and sends generated requests (valid and
invalid) with each role's token; every answer must be documented (status, content type,
body) and none may be a server error.
"""

import html
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
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
    ProjectGroupFactory,
    ProjectSettingsFactory,
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
        split_metrics={"public": {"mean_group_auc": 0.9, "worst_group_auc": 0.8}},
    )
    ProjectSettingsFactory(edition=edition)
    ProjectGroupFactory(edition=edition, members=[student])
    return {"lab": lab, "entry": run.entry}


@pytest.mark.parametrize("role", ["anonymous", "student", "judge", "staff"])
def test_every_documented_path_answers_as_documented(role, course, live_server, request):
    use_broker("memory://")  # an upload that passes the checks is queued, never graded here
    # Generous rates: the fuzzer's burst is not what this test is about (test_limits is).
    rates = SimpleRateThrottle.THROTTLE_RATES
    saved = dict(rates)
    rates.update(user="100000/min", anon="100000/min", uploads="100000/min")
    headers = []
    if role != "anonymous":
        _, key = token_create(user=request.getfixturevalue(role), name="schemathesis")
        headers = ["-H", f"Authorization: Token {key}"]
    try:
        # Revoking a token goes last, alone: it may revoke the very token the run uses.
        for selection in (["--exclude-operation-id", REVOKE], ["--include-operation-id", REVOKE]):
            result = _schemathesis(live_server.url, [*headers, *selection])
            assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
            assert "FAILURES" not in result.stdout, result.stdout[-6000:]
            assert " passed" in result.stdout.rsplit("SUMMARY", 1)[-1], result.stdout[-3000:]
    finally:
        rates.clear()
        rates.update(saved)


REVOKE = "tokens_destroy"


def _schemathesis(url: str, extra: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/api/schema/?format=json",
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
