"""A student reads a leaderboard in a browser, on a desktop and at phone width."""

from pathlib import Path

import pytest

from accounts.models import Affiliation, Role
from demo.seeding import baselines_mark_staff_entries
from factories import UserFactory, scored_entry
from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GROUPS = {"accuracy_LF": 92.0, "accuracy_LM": 90.0, "accuracy_DF": 70.0, "accuracy_DM": 76.0}


def _metrics(mean, worst, **extra):
    # lab2-debias ranks by mean_group_auc, then worst_group_auc; the rest is shown.
    return {
        "mean_group_auc": mean / 100,
        "worst_group_auc": worst / 100,
        "debias_accuracy": mean,
        "worst_group_accuracy": worst,
        "roc_auc": 0.93,
        **extra,
    }


def test_a_student_views_the_leaderboard(page, debias, student, staff):
    ada = UserFactory(first_name="Ada", last_name="Lovelace")
    bo = UserFactory(first_name="Bo", last_name="Public", affiliation=Affiliation.PUBLIC)
    cy = UserFactory(first_name="Cy", last_name="Tied")
    UserFactory(first_name="Di", last_name="Pending", role=Role.STUDENT)
    scored_entry(ada, debias, _metrics(82.0, 70.0, **GROUPS))
    scored_entry(bo, debias, _metrics(85.5, 72.0, **GROUPS))
    scored_entry(cy, debias, _metrics(82.0, 70.0, **GROUPS))
    scored_entry(student, debias, _metrics(61.25, 40.0, **GROUPS))
    scored_entry(staff, debias, _metrics(75.0, 60.0, **GROUPS), note="Staff baseline")
    baselines_mark_staff_entries(lab=debias)

    browser_login(page, "stu")
    page.goto(f"/labs/{debias.pk}/")
    assert "Ranked by Mean group ROC AUC" in page.locator("#ranking-rule").inner_text()
    page.click("#leaderboard-link")
    rows = page.locator("table.leaderboard tbody tr")
    assert rows.count() == 5
    ranks = [rows.nth(i).get_attribute("data-rank") for i in range(5)]
    assert ranks == ["1", "2", "2", "", "4"]  # Bo, Ada and Cy tied, the baseline, the student
    assert "Staff baseline" in rows.nth(3).inner_text()
    assert "not eligible" in rows.nth(0).inner_text()
    assert "you" in rows.nth(4).inner_text()
    assert page.locator("th", has_text="Accuracy, dark female").count() == 1
    assert "a constant 0.5" in page.locator("main").inner_text()  # the ranking rule, stated
    assert page.locator("#split").inner_text() == "public split"
    assert page.locator("#csv").count() == 0  # staff only

    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(SCREENSHOTS / "leaderboard-phone.png"), full_page=True)
    # The wide table scrolls inside itself; the page does not scroll sideways.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize("width", [1280, 390])
def test_whole_counts_and_intervals_on_the_board(page, cartpole, student, width):
    from leaderboards.services import board_refresh

    entry = scored_entry(
        student, cartpole, {"mean_return": 9.5, "std_return": 1.0, "episodes": 5.0}
    )
    run = entry.runs.get()
    run.split_intervals = {"public": {"mean_return": [8.75, 10.25]}}
    run.save()
    board_refresh(lab=cartpole)
    page.set_viewport_size({"width": width, "height": 844})
    browser_login(page, "stu")
    page.goto(f"/labs/{cartpole.pk}/leaderboard/")
    cells = page.locator("#you td.num")
    assert [cells.nth(i).inner_text().split("\n") for i in range(3)] == [
        ["9.500", "[8.750, 10.250]"],
        ["1.000"],
        ["5"],
    ]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    shots = Path("/work/wt/shots/api")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"leaderboard-cartpole-{width}.png"), full_page=True)
