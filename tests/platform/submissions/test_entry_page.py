"""The entry page: metrics as every page shows them (whole counts as whole numbers, each with
its 95 % interval, as on the leaderboard), and the final-entry choice only for an entry that
can count (a scored one: submissions.standing)."""

import re
from pathlib import Path

import pytest

from courses.models import EntrySelection
from factories import EntryFactory, GradingRunFactory, scored_entry
from pages import browser_login
from submissions.models import Participant, Status
from submissions.services import intake

SHOTS = Path("/work/wt/shots/api")


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture
def scored(enrolled, cartpole):
    entry = scored_entry(
        enrolled,
        cartpole,
        {"mean_return": 9.5, "std_return": 1.25, "episodes": 5.0},
        {"mean_return": 8.0, "std_return": 2.0, "episodes": 5.0},
    )
    run = entry.runs.get()
    run.split_intervals = {
        "public": {"mean_return": [8.75, 10.25]},
        "private": {"mean_return": [7.0, 9.0]},
    }
    run.save()
    return entry


@pytest.mark.django_db
def test_whole_counts_read_as_whole_numbers_and_each_metric_has_its_interval(scored, client_as):
    page = _text(client_as("student").get(f"/entries/{scored.pk}/").content.decode())
    assert "Episodes episodes 5 " in page
    assert "5.0" not in page
    assert "Mean return mean_return 9.500[8.750, 10.250]" in page.replace(" [", "[")
    assert "Return std std_return 1.250" in page
    # The private split, its interval included, stays hidden before the reveal.
    assert "7.000" not in page and "8.000" not in page


@pytest.mark.django_db
def test_staff_see_the_private_interval_too(scored, client_as):
    page = _text(client_as("staff").get(f"/entries/{scored.pk}/").content.decode())
    assert "8.000[7.000, 9.000]" in page.replace(" [", "[")


@pytest.mark.django_db
@pytest.mark.parametrize("status", [Status.QUEUED, Status.RUNNING, Status.FAILED])
def test_an_entry_that_cannot_count_is_not_offered_as_final(status, enrolled, cartpole, client_as):
    cartpole.selection = EntrySelection.FINAL
    cartpole.save()
    entry = EntryFactory(lab=cartpole, user=enrolled, status=status)
    GradingRunFactory(entry=entry, status=status)
    page = client_as("student").get(f"/entries/{entry.pk}/").content.decode()
    assert "Make this my final entry" not in page
    assert intake.NOT_COUNTABLE in page
    # Chosen anyway (a POST made by hand): refused, with the same reason.
    response = client_as("student").post(f"/entries/{entry.pk}/final/", follow=True)
    assert intake.NOT_COUNTABLE in response.content.decode()
    assert Participant.objects.get(user=enrolled).final_entry_id is None


@pytest.mark.django_db
def test_a_scored_entry_is_offered_and_becomes_final(scored, enrolled, client_as):
    client = client_as("student")
    assert "Make this my final entry" in client.get(f"/entries/{scored.pk}/").content.decode()
    client.post(f"/entries/{scored.pk}/final/")
    assert Participant.objects.get(user=enrolled).final_entry_id == scored.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("width", [1280, 390])
def test_the_entry_page_at_desktop_and_phone_width(page, scored, enrolled, cartpole, width):
    queued = EntryFactory(lab=cartpole, user=enrolled, status=Status.QUEUED)
    GradingRunFactory(entry=queued, status=Status.QUEUED)
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, "stu")
    page.goto(f"/entries/{scored.pk}/")
    table = page.locator("table.metrics[data-split=public]")
    assert "Episodes" in table.inner_text() and "5.0" not in table.inner_text()
    assert table.locator(".ci").first.inner_text() == "[8.750, 10.250]"
    assert page.locator("text=Make this my final entry").is_visible()
    # The table fits the phone's width: nothing to scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"entry-scored-{width}.png"), full_page=True)
    page.goto(f"/entries/{queued.pk}/")
    assert page.locator("text=Make this my final entry").count() == 0
    assert page.locator("#final-choice-unscored").inner_text() == intake.NOT_COUNTABLE
    page.screenshot(path=str(SHOTS / f"entry-queued-{width}.png"), full_page=True)
