"""Staff type and read times in the admin in the edition's zone, with the zone named:
23:59 for a lab's close is 23:59 in the edition's zone, as the site then shows it."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from factories import EditionFactory, LabFactory

pytestmark = pytest.mark.django_db

EASTERN = ZoneInfo("America/New_York")


def _form(lab, close_date: str, close_time: str) -> dict:
    opens = timezone.localtime(lab.opens_at, ZoneInfo(lab.edition.time_zone))
    return {
        "edition": lab.edition.pk,
        "spec_id": lab.spec_id,
        "title": lab.title,
        "description": "",
        "position": 0,
        "opens_at_0": opens.strftime("%Y-%m-%d"),
        "opens_at_1": opens.strftime("%H:%M:%S"),
        "closes_at_0": close_date,
        "closes_at_1": close_time,
        "max_entries_per_day": 5,
        "max_entries_total": 30,
        "max_upload_mb": 50,
        "needs_writeup": "on",
        "selection": "best",
        "completion": "scored",
    }


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo"])
def test_a_closing_time_typed_in_the_admin_is_in_the_labs_edition_zone(client_as, zone):
    # Another edition, in another zone, is the current one: the lab's own edition counts.
    EditionFactory(is_current=True, time_zone="Europe/London")
    lab = LabFactory(
        edition=EditionFactory(time_zone=zone),
        opens_at=datetime(2027, 1, 10, 9, 0, tzinfo=ZoneInfo(zone)),
        closes_at=datetime(2027, 1, 20, 9, 0, tzinfo=ZoneInfo(zone)),
    )
    response = client_as("staff").post(
        f"/admin/courses/lab/{lab.pk}/change/", _form(lab, "2027-01-26", "23:59:00")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    lab.refresh_from_db()
    assert lab.closes_at == datetime(2027, 1, 26, 23, 59, tzinfo=ZoneInfo(zone))


def test_the_change_form_shows_times_in_the_edition_zone_and_names_it(client_as):
    lab = LabFactory(
        edition=EditionFactory(is_current=True, time_zone="America/New_York"),
        closes_at=datetime(2027, 1, 26, 23, 59, tzinfo=EASTERN),
    )
    html = client_as("staff").get(f"/admin/courses/lab/{lab.pk}/change/").content.decode()
    assert 'value="23:59:00"' in html
    assert "Time in America/New_York (E" in html  # EST or EDT, whichever is in force now
    assert 'id="admin-time-zone"' in html


def test_admin_lists_show_the_current_editions_zone(client_as):
    LabFactory(
        edition=EditionFactory(is_current=True, time_zone="America/New_York"),
        closes_at=datetime(2027, 1, 26, 23, 59, tzinfo=EASTERN),
    )
    html = client_as("staff").get("/admin/courses/lab/").content.decode()
    assert "11:59 p.m." in html
    assert "Times in America/New_York (E" in html


def test_a_new_lab_takes_the_zone_of_the_edition_chosen_in_the_form(client_as):
    EditionFactory(is_current=True, time_zone="America/New_York")
    tokyo = EditionFactory(time_zone="Asia/Tokyo")
    template = LabFactory.build(
        edition=tokyo, opens_at=datetime(2027, 1, 10, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
    )
    response = client_as("staff").post(
        "/admin/courses/lab/add/", _form(template, "2027-01-26", "23:59:00")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    lab = tokyo.labs.get()
    assert lab.closes_at == datetime(2027, 1, 26, 23, 59, tzinfo=ZoneInfo("Asia/Tokyo"))
    assert lab.opens_at == datetime(2027, 1, 10, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))
