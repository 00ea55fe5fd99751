"""Staff see who is locked out of logging in and unlock them on the People page, in a
browser at desktop and phone width (issue 23: it was admin-only)."""

from pathlib import Path

import pytest
from django.conf import settings

from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fail_logins(page, login: str, times: int) -> None:
    for _ in range(times):
        page.goto("/accounts/login/")
        page.fill("#id_login", login)
        page.fill("#id_password", "not-the-password")
        page.click("button[type=submit]")
        page.wait_for_load_state()


@pytest.mark.parametrize("width", [1280, 390])
def test_staff_unlock_a_locked_out_student(page, chromium, live_server, staff, student, width):
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, "staffer")  # (before the lockout: here every browser shares 127.0.0.1)
    # The student locks themselves out, from their own browser.
    context = chromium.new_context(base_url=live_server.url)
    theirs = context.new_page()
    _fail_logins(theirs, "stu", settings.AXES_FAILURE_LIMIT)
    browser_login(theirs, "stu")
    assert "Too many failed logins" in theirs.content()

    page.goto("/staff/people/")
    row = page.locator("#lockouts tr[data-lockout='stu']")
    cells = row.locator("td")
    assert cells.nth(0).inner_text().split() == ["stu", "account"]
    assert cells.nth(1).inner_text().endswith(("EST", "EDT"))  # it ends by itself then
    page.locator("#lockouts").scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / f"people-lockouts-{width}.png"), full_page=True)
    row.locator("button", has_text="Unlock").click()
    page.wait_for_load_state()
    assert "Unlocked stu" in page.inner_text(".messages")
    assert page.locator("#lockouts tr[data-lockout='stu']").count() == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    browser_login(theirs, "stu")
    assert "Log out" in theirs.inner_text("header")
    context.close()
