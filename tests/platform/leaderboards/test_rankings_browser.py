"""Intervals and statistical ties read well in a browser, on a desktop and at phone width."""

from pathlib import Path

import numpy as np
import pytest

from factories import EntryFactory, GradingRunFactory, UserFactory
from grader import intervals
from pages import browser_login
from submissions.standing import participant_standing_refresh

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
N = 400


def _standing(user, lab, wrong):
    right = np.ones(N)
    right[:wrong] = 0
    value = 100.0 * right.mean()
    rng = np.random.default_rng(wrong)
    metrics = {
        "debias_accuracy": value,
        "worst_group_accuracy": value - 8,
        "group_accuracy_variance": 20.0 + wrong,
        "roc_auc": 0.9 - wrong / 1000,
        "mean_group_auc": 0.9 - wrong / 1000,  # lab 2's ranking metric
        "worst_group_auc": 0.85 - wrong / 1000,
        **{f"accuracy_{g}": value - rng.uniform(0, 6) for g in ("LF", "LM", "DF", "DM")},
        "non_face_specificity": 95.0,
    }
    cis = {
        k: [v - 0.04 * abs(v) - 0.01, min(v + 0.04 * abs(v) + 0.01, 100.0)]
        for k, v in metrics.items()
    }
    entry = EntryFactory(user=user, lab=lab)
    GradingRunFactory(
        entry=entry,
        split_metrics={"public": metrics, "private": {}},
        split_intervals={"public": cis},
        outcomes={"public": intervals.pack_outcomes(right)},
    )
    participant_standing_refresh(entry.participant)


def test_intervals_and_ties_read_on_desktop_and_phone(page, debias, student):
    names = ["Ada Lovelace", "Bo Chen", "Cy Okafor", "Di Ramos", "Ed Novak"]
    for name, wrong in zip(names, (0, 3, 6, 9, 60), strict=True):
        first, last = name.split()
        _standing(UserFactory(first_name=first, last_name=last), debias, wrong)
    _standing(student, debias, 30)

    browser_login(page, "stu")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"/labs/{debias.pk}/leaderboard/")
    rows = page.locator("table.leaderboard tbody tr")
    ties = [rows.nth(i).locator("td.stat-tie").inner_text().strip() for i in range(rows.count())]
    assert ties == ["≈ #1", "≈ #1", "≈ #3", "≈ #3", "", ""]
    assert "[" in rows.nth(0).locator("td.num").first.inner_text()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "rankings-desktop.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SCREENSHOTS / "rankings-phone.png"), full_page=True)
    # The wide table scrolls inside itself; the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
