"""Staff confirm and announce the prizes in a browser; anyone sees the winners page."""

from pathlib import Path

import pytest

from accounts.models import Affiliation, Role
from awards.models import AwardSnapshot, Category, Prize
from factories import (
    EditionFactory,
    PitchBallotFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
)
from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_confirm_and_announce_then_the_public_sees_winners(page, staff, make_user):
    edition = EditionFactory(name="IAP 2027", is_current=True)
    ProjectSettingsFactory(edition=edition, min_judges_per_group=1)
    judge = make_user(role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    for name, novelty in (("Neural Tunes", 5), ("Fair Faces", 4), ("Pong Pros", 4)):
        group = ProjectGroupFactory(edition=edition, name=name, members=[make_user()])
        PitchBallotFactory(group=group, judge=judge, novelty=novelty, soundness=4, clarity=4)
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="GPU", position=1)
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="Speaker", position=2)

    browser_login(page, "staffer")
    page.goto("/staff/awards/")
    # Fair Faces and Pong Pros tie for the speaker: confirming is refused until ordered.
    page.click("text=Confirm standings and awards")
    assert "Resolve the ties first" in page.locator(".messages").inner_text()
    tie = page.locator("form.tie")
    tie.locator("input[type=number]").nth(0).fill("2")
    tie.locator("input[type=number]").nth(1).fill("1")
    tie.locator("button").click()
    page.click("text=Confirm standings and awards")
    assert "Version 1 confirmed" in page.locator(".messages").inner_text()
    page.screenshot(path=str(SCREENSHOTS / "awards-staff-confirmed.png"), full_page=True)
    page.click("button:text-is('Announce')")
    assert "announced" in page.locator(".messages").inner_text()
    assert AwardSnapshot.objects.get().announced_at is not None

    page.click("text=Log out")
    page.goto("/winners/")
    winners = page.locator("main").inner_text()
    assert "GPU" in winners and "Neural Tunes" in winners
    speaker_row = page.locator("tr", has_text="Speaker").inner_text()
    assert ("Pong Pros" in speaker_row) != ("Fair Faces" in speaker_row)
