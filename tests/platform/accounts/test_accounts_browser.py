"""Real people get in, in a browser: sign up, verify by the emailed link, log in, reset a
password; a roster import turns a self-declared student into a verified, prize-eligible one."""

import re
from pathlib import Path

import pytest
from django.core import mail

from accounts.models import Affiliation, AffiliationSource, User
from factories import UserFactory, scored_entry
from pages import browser_login

SHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _link(message, pattern: str) -> str:
    found = re.search(r"https?://\S+" + pattern + r"\S*", message.body)
    assert found, message.body
    return found.group(0)


def _shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width, height, label in ((1280, 900, "desktop"), (390, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(SHOTS / f"accounts-{name}-{label}.png"), full_page=True)
        # Nothing makes the page scroll sideways on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= width
    page.set_viewport_size({"width": 1280, "height": 900})


def test_sign_up_verify_log_in_and_reset_the_password(page, live_server, edition):
    page.goto("/")
    page.click("text=Sign up")
    _shoot(page, "signup")
    page.fill("#id_email", "newbie@mit.edu")
    page.fill("#id_username", "newbie")
    page.fill("#id_password1", "a-long-passphrase-191")
    page.fill("#id_password2", "a-long-passphrase-191")
    page.fill("#id_first_name", "New")
    page.fill("#id_last_name", "Bie")
    page.select_option("#id_affiliation", "mit_student")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    assert "Verify Your Email Address" in page.content() or "verification" in page.content()
    user = User.objects.get(username="newbie")
    # Self-declared: never prize-eligible until verified by the roster or single sign-on.
    assert user.affiliation == Affiliation.MIT_STUDENT
    assert user.affiliation_source == AffiliationSource.SELF and not user.lab_prize_eligible

    # Not verified yet: the login sends the person back to verify.
    browser_login(page, "newbie", "a-long-passphrase-191")
    assert "Log out" not in page.content()

    [confirm] = [m for m in mail.outbox if "newbie@mit.edu" in m.to][:1]
    page.goto(_link(confirm, "/accounts/confirm-email/"))
    page.click("button[type=submit]")  # confirming is a POST: a link scanner verifies nothing
    page.wait_for_load_state()
    assert "Log out" in page.content()  # verified and logged in

    page.goto("/accounts/profile/")
    assert "self-declared, unverified" in page.locator("#affiliation-status").inner_text()
    _shoot(page, "account")
    page.click("text=Log out")
    page.wait_for_load_state()

    browser_login(page, "newbie@mit.edu", "a-long-passphrase-191")  # by email this time
    assert "Log out" in page.content()
    page.click("text=Log out")

    page.goto("/accounts/login/")
    _shoot(page, "login")
    page.click("text=Forgot your password?")
    page.fill("#id_email", "newbie@mit.edu")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    reset = [m for m in mail.outbox if "Password Reset" in m.subject][-1]
    page.goto(_link(reset, "/accounts/password/reset/key/"))
    page.fill("#id_password1", "another-passphrase-6s191")
    page.fill("#id_password2", "another-passphrase-6s191")
    page.click("button[type=submit]")
    page.wait_for_load_state()
    browser_login(page, "newbie", "a-long-passphrase-191")
    assert "Log out" not in page.content()  # the old password is gone
    browser_login(page, "newbie", "another-passphrase-6s191")
    assert "Log out" in page.content()


def test_roster_import_makes_a_self_declared_student_prize_eligible(
    page, live_server, debias, staff, tmp_path
):
    sam = UserFactory(
        username="sam",
        email="sam@mit.edu",
        first_name="Sam",
        last_name="Self",
        affiliation=Affiliation.MIT_STUDENT,
        affiliation_source=AffiliationSource.SELF,
    )
    scored_entry(sam, debias, {"debias_accuracy": 80.0, "worst_group_accuracy": 60.0})

    browser_login(page, "sam")
    page.goto(f"/labs/{debias.pk}/leaderboard/")
    row = page.locator("table.leaderboard tbody tr", has_text="Sam Self")
    assert "not eligible · self-declared" in row.inner_text()
    page.click("text=Log out")

    browser_login(page, "staffer")
    page.click("header >> text=People")
    roster = tmp_path / "roster.csv"
    roster.write_text("email,name,affiliation\nsam@mit.edu,Sam Self,registered MIT student\n")
    page.set_input_files("#id_roster", str(roster))
    page.click("form:has(#id_roster) button[type=submit]")
    page.wait_for_load_state()
    assert "1 account updated" in page.content()
    _shoot(page, "people")
    page.goto(f"/labs/{debias.pk}/leaderboard/")
    row = page.locator("table.leaderboard tbody tr", has_text="Sam Self")
    assert "eligible · verified" in row.inner_text()
    assert "not eligible" not in row.inner_text()
