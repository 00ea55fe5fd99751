"""Staff grant an extension on the timeline page, in a browser at desktop and phone width
(issue 23: it was admin-only)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from courses.models import Extension
from factories import EditionFactory, EnrollmentFactory, LabFactory, UserFactory
from leaderboards.services import lab_private_reveal
from pages import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1280, 390])
def test_staff_grant_an_extension_from_the_timeline(page, staff, width):
    edition = EditionFactory(name="IAP 2027", is_current=True)
    open_lab = LabFactory(
        edition=edition, title="Lab 1: Music", closes_at=timezone.now() + timedelta(days=2)
    )
    revealed = LabFactory(
        edition=edition,
        title="Lab 2: Faces",
        spec_id="lab2-debias",
        opens_at=timezone.now() - timedelta(days=5),
        closes_at=timezone.now() - timedelta(days=1),
    )
    ada = UserFactory(username="ada", first_name="Ada", last_name="Lovelace")
    EnrollmentFactory(edition=edition, user=ada)
    lab_private_reveal(lab=revealed, by=staff)

    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, "staffer")
    page.goto("/staff/timeline/")
    form = page.locator("#grant-extension")
    assert "New deadline (America/New_York (E" in form.inner_text()
    form.locator("select[name=what]").select_option(label="Lab 1: Music")
    form.locator("input[name=student]").fill("ada@example.edu")
    form.locator("input[name=closes_at]").fill("2030-01-30T23:59")
    form.locator("input[name=reason]").fill("hospital stay")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "Extension granted: Ada Lovelace until January 30, 2030, 11:59 pm EST" in (
        page.locator(".messages").inner_text()
    )
    extension = Extension.objects.get()
    assert extension.lab == open_lab
    assert extension.closes_at == datetime(2030, 1, 30, 23, 59, tzinfo=ZoneInfo("America/New_York"))
    assert "hospital stay" in page.locator("#extension-list").inner_text()
    # The lab whose private split Ada has seen: refused with the rule's reason, input kept.
    form = page.locator("#grant-extension")
    form.locator("select[name=what]").select_option(label="Lab 2: Faces")
    form.locator("input[name=student]").fill("ada")
    form.locator("input[name=closes_at]").fill("2030-01-31T12:00")
    form.locator("input[name=reason]").fill("asked late")
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()
    assert "has already seen the private split of Lab 2: Faces" in (
        page.locator(".messages").inner_text()
    )
    assert page.locator("#grant-extension input[name=reason]").input_value() == "asked late"
    assert Extension.objects.count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= width
