"""API tokens, prize versions, evaluation receipts and the ballots CSV show times in the
edition's zone with the zone named (a receipt keeps its ISO UTC times, labelled UTC)."""

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from accounts.services import token_create
from awards.models import AwardSnapshot
from factories import PitchBallotFactory, ProjectGroupFactory, scored_entry

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
MOMENT = datetime(2027, 1, 27, 4, 59, tzinfo=UTC)  # January 26, 11:59 pm in New York
SHOWN = "January 26, 2027, 11:59 pm EST"


def test_api_tokens_show_the_editions_zone(client_as, student, edition):
    token, _ = token_create(user=student, name="colab")
    type(token).objects.filter(pk=token.pk).update(created_at=MOMENT, last_used_at=MOMENT)
    html = client_as("student").get("/accounts/tokens/").content.decode()
    assert html.count(SHOWN) == 2
    assert "UTC" not in html


def test_prize_versions_show_the_editions_zone(client_as, staff, edition):
    AwardSnapshot.objects.create(
        edition=edition,
        version=1,
        data={"categories": []},
        confirmed_by=staff,
        confirmed_at=MOMENT,
        announced_by=staff,
        announced_at=MOMENT,
    )
    html = client_as("staff").get("/staff/awards/").content.decode()
    assert html.count(f"{SHOWN} by ") == 2
    assert " UTC" not in html


def test_a_receipt_keeps_iso_utc_labelled_and_shows_the_editions_time(client_as, student, debias):
    entry = scored_entry(student, debias, {"debias_accuracy": 80.0})
    run = entry.runs.get()
    run.receipt = {"grader_version": "1.0", "started_at": MOMENT.isoformat()}
    run.save()
    html = client_as("student").get(f"/entries/{entry.pk}/").content.decode()
    assert f"{MOMENT.isoformat()} (UTC) · {SHOWN}" in html


def test_the_ballots_csv_writes_times_in_the_editions_zone_and_names_it(client_as, edition):
    ballot = PitchBallotFactory(group=ProjectGroupFactory(edition=edition, name="Alpha"))
    type(ballot).objects.filter(pk=ballot.pk).update(updated_at=MOMENT)
    response = client_as("staff").get(f"/projects/{edition.slug}/staff/ballots.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows[0]["updated (America/New_York)"] == SHOWN


def test_the_winners_page_dates_the_announcement_in_the_editions_zone(client, staff, edition):
    AwardSnapshot.objects.create(
        edition=edition,
        version=1,
        data={"categories": []},
        confirmed_by=staff,
        announced_by=staff,
        announced_at=MOMENT,  # January 27 in UTC, still January 26 in New York
    )
    html = client.get("/winners/").content.decode()
    assert "Announced January 26, 2027." in html
