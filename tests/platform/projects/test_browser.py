"""A judge scores three pitches in a row from the keyboard; staff watch the dashboard."""

from pathlib import Path

import pytest

from accounts.models import Affiliation, Role
from factories import EditionFactory, ProjectGroupFactory, UserFactory, pitch_session
from judging.models import PitchBallot
from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pitches():
    config = pitch_session(EditionFactory(), min_judges_per_group=1)
    groups = [
        ProjectGroupFactory(
            edition=config.edition,
            name=name,
            title=title,
            slot=slot,
            members=[UserFactory(affiliation=Affiliation.MIT_STUDENT)],
        )
        for slot, (name, title) in enumerate(
            [
                ("Neural Tunes", "Folk music generation"),
                ("Fair Faces", "Debiasing face detection"),
                ("Pong Pros", "Sample-efficient RL"),
            ],
            start=1,
        )
    ]
    return config.edition, groups


def _wait_saved(page):
    page.wait_for_selector("#save-state[data-state=saved]")


def test_a_judge_scores_three_pitches_in_a_row_from_the_keyboard(page, pitches):
    edition, groups = pitches
    judge = UserFactory(username="jo", role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    browser_login(page, "jo")
    page.goto(f"/projects/{edition.slug}/judging/")
    page.click("text=Start with the first pitch")

    # Pitch 1: keys 1-5 score the highlighted criterion and move to the next one.
    assert page.inner_text("#group-name") == "Neural Tunes"
    for key in "453":
        page.keyboard.press(key)
    _wait_saved(page)
    assert "ballot complete" in page.inner_text("#save-state")
    page.fill("#comment", "Lovely demo")
    page.locator("#comment").blur()
    page.wait_for_function(
        "document.querySelector('#save-state').textContent === 'Saved · ballot complete'"
    )
    page.keyboard.press("n")

    # Pitch 2: clicks on the labelled buttons work too.
    page.wait_for_selector("#group-name:text('Fair Faces')")
    for criterion, value in [("novelty", 2), ("soundness", 3), ("clarity", 5)]:
        page.click(f"label[for={criterion}-{value}]")
    _wait_saved(page)
    page.screenshot(path=str(SCREENSHOTS / "projects-score-sheet-desktop.png"), full_page=True)
    page.click("#next-link")

    # Pitch 3, on a phone, changing its mind once.
    page.wait_for_selector("#group-name:text('Pong Pros')")
    page.set_viewport_size({"width": 390, "height": 844})
    page.keyboard.press("5")
    page.click("label[for=novelty-4]")
    page.keyboard.press("4")  # novelty was clicked, so this scores soundness
    page.keyboard.press("4")
    _wait_saved(page)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the score sheet scrolls sideways on a phone"

    ballots = {
        b.group.name: (b.scores(), b.comment) for b in PitchBallot.objects.filter(judge=judge)
    }
    assert ballots == {
        "Neural Tunes": ({"novelty": 4, "soundness": 5, "clarity": 3}, "Lovely demo"),
        "Fair Faces": ({"novelty": 2, "soundness": 3, "clarity": 5}, ""),
        "Pong Pros": ({"novelty": 4, "soundness": 4, "clarity": 4}, ""),
    }


def test_staff_watch_scoring_progress_on_the_dashboard(page, pitches):
    edition, groups = pitches
    UserFactory(username="sam", role=Role.STAFF, affiliation=Affiliation.MIT_AFFILIATE)
    judge = UserFactory(username="jo", role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    UserFactory(username="jamie", role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    PitchBallot.objects.create(group=groups[0], judge=judge, novelty=5, soundness=5, clarity=4)

    browser_login(page, "sam")
    page.goto(f"/projects/{edition.slug}/staff/")
    jo = page.locator("tr[data-judge=jo]")
    assert "1/3" in jo.inner_text()
    assert "Fair Faces, Pong Pros" in jo.locator(".remaining").inner_text()
    standings = page.locator("table.standings").inner_text()
    assert "4.667" in standings and "14/3" in standings

    PitchBallot.objects.create(group=groups[1], judge=judge, novelty=5, soundness=5, clarity=4)
    page.reload()
    page.screenshot(path=str(SCREENSHOTS / "projects-dashboard-desktop.png"), full_page=True)
    assert "2/3" in page.locator("tr[data-judge=jo]").inner_text()
    # Both now at 14/3: a real tie, shown for staff to break.
    assert page.locator("table.standings .badge", has_text="tie").count() == 2
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("table.standings").is_visible()


def test_a_judge_declares_and_undoes_a_conflict_on_a_phone(page, pitches):
    edition, groups = pitches
    UserFactory(username="phonejudge", role=Role.JUDGE)
    page.set_viewport_size({"width": 390, "height": 844})
    browser_login(page, "phonejudge")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    # The score sheet has the control, visible at phone width.
    page.goto(f"/projects/groups/{groups[0].pk}/score/")
    summary = page.locator(".conflict-control summary")
    assert summary.is_visible()
    summary.click()
    page.screenshot(path=str(SCREENSHOTS / "conflict-score-sheet-390.png"), full_page=True)

    # The judging list shows it too; a reason is required before anything is sent.
    page.goto(f"/projects/{edition.slug}/judging/")
    row = page.locator("tr", has_text="Fair Faces")
    row.locator(".conflict-control summary").click()
    reason = row.locator("input[name=reason]")
    assert reason.is_visible()
    row.locator("button", has_text="Declare conflict").click()
    assert page.url.endswith("/judging/")  # the browser refused the empty form
    assert not reason.evaluate("el => el.checkValidity()")
    reason.fill("I advised this group")
    row.locator("button", has_text="Declare conflict").click()
    page.wait_for_load_state()
    assert "Conflict with Fair Faces recorded" in page.locator(".messages").inner_text()
    mine = page.locator("#my-conflicts + table")
    assert "I advised this group" in mine.inner_text()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(SCREENSHOTS / "conflict-declared-390.png"), full_page=True)

    # ...and the judge can undo it: the group is back on the list.
    mine.locator("button", has_text="Undo").click()
    page.wait_for_load_state()
    assert "is undone" in page.locator(".messages").inner_text()
    assert page.locator("table >> nth=0").locator("tr", has_text="Fair Faces").count() == 1


@pytest.mark.parametrize("width", [1280, 390])
def test_staff_mark_attendance_and_close_scoring_without_the_admin(page, pitches, width):
    """Issue 23: marking a group present and closing pitch scoring were admin-only."""
    from projects.models import ProjectGroup, ProjectSettings

    edition, groups = pitches
    UserFactory(username="sam", role=Role.STAFF, affiliation=Affiliation.MIT_AFFILIATE)
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, "sam")
    page.goto(f"/projects/{edition.slug}/staff/")
    assert page.inner_text("#project-phase") == "scoring"
    page.click("button[aria-label='Mark Neural Tunes present']")
    page.wait_for_load_state()
    assert "Neural Tunes: marked present" in page.inner_text(".messages")
    row = page.locator("#schedule + form + table tr[data-group='Neural Tunes']")
    assert "present" in row.inner_text() and "Undo" in row.inner_text()
    assert ProjectGroup.objects.get(name="Neural Tunes").presented_at is not None
    page.screenshot(
        path=str(SCREENSHOTS / f"projects-dashboard-session-{width}.png"), full_page=True
    )
    page.click("#close-scoring")
    page.wait_for_load_state()
    assert "the final projects are final" in page.inner_text(".messages")
    assert page.inner_text("#project-phase") == "final"
    assert ProjectSettings.objects.get(edition=edition).scoring_closed_at is not None
    assert page.evaluate("document.documentElement.scrollWidth") <= width
