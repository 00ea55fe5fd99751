"""A student meets a 403 and a 404 in a browser, on a desktop and at phone width: the pages
keep the site's navigation and say why."""

from pathlib import Path

import pytest

from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("width", [1200, 390])
def test_a_student_sees_friendly_403_and_404_pages(page, student, edition, settings, width):
    settings.DEBUG = True  # the demo's setting: no debug 404 page either
    page.set_viewport_size({"width": width, "height": 800})
    browser_login(page, "stu")

    response = page.goto("/staff/queue/")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "That is not allowed"
    assert "Only course staff can do this." in page.locator("#refusal").inner_text()
    assert page.locator("header nav >> text=Labs").is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"error-403-{width}.png"), full_page=True)

    response = page.goto("/no-such-page/")
    assert response.status == 404
    assert page.locator("h1").inner_text() == "Page not found"
    assert page.locator("header nav >> text=Labs").is_visible()
    page.screenshot(path=str(SCREENSHOTS / f"error-404-{width}.png"), full_page=True)
    page.click("text=Back to the labs")
    assert page.url.endswith("/")
