"""Staff set a lab's closing time to 23:59 in the admin; the lab page says 11:59 pm EST."""

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from factories import LabFactory
from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_set_2359_in_the_admin_and_the_site_shows_1159_pm_est(page, staff, edition):
    eastern = ZoneInfo("America/New_York")
    lab = LabFactory(
        edition=edition,
        opens_at=datetime(2026, 11, 1, 9, 0, tzinfo=eastern),
        closes_at=datetime(2027, 1, 20, 17, 0, tzinfo=eastern),
    )
    browser_login(page, "staffer")
    page.goto(f"/admin/courses/lab/{lab.pk}/change/")
    assert "Times in America/New_York (EST)" in page.locator("#admin-time-zone").inner_text()
    assert page.locator("#id_closes_at_1").input_value() == "17:00:00"
    page.fill("#id_closes_at_0", "2027-01-26")
    page.fill("#id_closes_at_1", "23:59")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "admin-zone-form.png"), full_page=False)
    page.click("input[name=_save]")
    page.wait_for_load_state()
    assert page.locator(".messagelist .success").count() == 1

    page.goto(f"/labs/{lab.pk}/")
    assert "January 26, 2027, 11:59 pm EST" in page.locator("main").inner_text()
