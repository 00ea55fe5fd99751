"""A long leaderboard reads a page at a time in a browser, on a desktop and at phone width:
the student's own standing above the table, a pager, and a jump to the page with their row."""

from pathlib import Path

import pytest

from factories import EntryFactory, GradingRunFactory, UserFactory
from leaderboards.services import board_refresh
from pages import browser_login
from submissions.standing import participant_standing_refresh

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
FIRST = ["Ada", "Bo", "Cy", "Di", "Ed", "Fay", "Gus", "Hal", "Ida", "Jo"]
LAST = ["Lovelace", "Chen", "Okafor", "Ramos", "Novak", "Singh", "Haddad", "Kim", "Moreau"]


def _standing(user, lab, auc):
    metrics = {
        "mean_group_auc": auc,
        "worst_group_auc": auc - 0.05,
        "debias_accuracy": 100 * auc,
        "worst_group_accuracy": 100 * auc - 8,
        "roc_auc": auc,
    }
    cis = {k: [v - 0.02 * abs(v), v + 0.02 * abs(v)] for k, v in metrics.items()}
    entry = EntryFactory(user=user, lab=lab)
    GradingRunFactory(
        entry=entry, split_metrics={"public": metrics}, split_intervals={"public": cis}
    )
    participant_standing_refresh(entry.participant, announce=False)


def test_a_long_board_pages_on_desktop_and_phone(page, debias, student):
    for i in range(150):
        user = UserFactory(first_name=FIRST[i % 10], last_name=f"{LAST[i % 9]} {i}")
        _standing(user, debias, 0.95 - i * 0.002)
    _standing(student, debias, 0.95 - 139.5 * 0.002)  # rank 141: on page 2
    board_refresh(lab=debias)

    browser_login(page, "stu")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"/labs/{debias.pk}/leaderboard/")
    assert page.locator("#board tbody tr").count() == 100
    own = page.locator("#own-standing tbody tr")
    assert own.count() == 1 and own.get_attribute("data-rank") == "141"
    assert "Page 1 of 2" in page.locator("nav.pager").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "paging-desktop.png"))

    page.set_viewport_size({"width": 390, "height": 844})
    page.locator("#your-standing").evaluate("heading => heading.scrollIntoView()")
    page.screenshot(path=str(SCREENSHOTS / "paging-phone.png"))
    # The pager wraps and the tables scroll inside themselves: no sideways page scroll.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.locator("nav.pager a.jump-own").first.click()
    page.wait_for_load_state()
    assert "page=2" in page.url and page.locator("#own-standing").count() == 0
    assert page.locator("#board tr#you").get_attribute("data-rank") == "141"
    page.screenshot(path=str(SCREENSHOTS / "paging-phone-own-page.png"))
