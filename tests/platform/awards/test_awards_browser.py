"""Staff confirm and announce the prizes in a browser; anyone sees the winners page."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import Affiliation, Role
from awards.models import AwardSnapshot, Category, Prize
from factories import (
    EditionFactory,
    PitchBallotFactory,
    ProjectGroupFactory,
    final_projects,
)
from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = Path("/work/briefs/shots")


def test_staff_confirm_and_announce_then_the_public_sees_winners(page, staff, make_user):
    edition = EditionFactory(name="IAP 2027", is_current=True)
    final_projects(edition)
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
    # Announcing first shows who gets what and asks for an explicit yes (issue 12).
    page.click("text=Announce…")
    assert "Neural Tunes" in page.locator("#summary").inner_text()
    assert AwardSnapshot.objects.get().announced_at is None
    page.check("input[name=confirm]")
    page.click("text=Announce and email the winners")
    assert "announced" in page.locator(".messages").inner_text()
    assert AwardSnapshot.objects.get().announced_at is not None

    page.click("text=Log out")
    page.goto("/winners/")
    winners = page.locator("main").inner_text()
    assert "GPU" in winners and "Neural Tunes" in winners
    speaker_row = page.locator("tr", has_text="Speaker").inner_text()
    assert ("Pong Pros" in speaker_row) != ("Fair Faces" in speaker_row)


@pytest.mark.parametrize("width", [1280, 390])
def test_announce_is_blocked_with_the_reason_while_a_lab_is_open(page, staff, make_user, width):
    """Item 1: with Lab 1 open until January 26, the prizes page says why nothing can be
    confirmed, and the announce page of an earlier version shows the blockers and offers no
    button; nothing is published or emailed."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from factories import LabFactory

    page.set_viewport_size({"width": width, "height": 900})
    edition = EditionFactory(name="IAP 2027", is_current=True)
    final_projects(edition)
    judge = make_user(role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    group = ProjectGroupFactory(edition=edition, name="Neural Tunes", members=[make_user()])
    PitchBallotFactory(group=group, judge=judge, novelty=5, soundness=4, clarity=4)
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="GPU", position=1)
    snapshot = AwardSnapshot.objects.create(
        edition=edition, version=1, data={"categories": []}, confirmed_by=staff
    )
    deadline = datetime(2027, 1, 26, 23, 59, tzinfo=ZoneInfo("America/New_York"))
    lab = LabFactory(
        edition=edition,
        spec_id="lab1-music",
        title="Lab 1",
        opens_at=timezone.now() - timedelta(days=1),
        closes_at=max(deadline, timezone.now() + timedelta(days=1)),
    )
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="Headphones")

    browser_login(page, "staffer")
    page.goto("/staff/awards/")
    assert "Lab 1 closes" in page.locator("#blockers").inner_text()
    page.click("text=Confirm standings and awards")
    assert "Lab 1 closes" in page.locator(".messages").inner_text()
    page.goto(f"/staff/awards/{snapshot.pk}/announce/")
    blockers = page.locator("#blockers").inner_text()
    assert "cannot be announced" in blockers and "Lab 1 closes" in blockers
    assert page.locator("text=Announce and email the winners").count() == 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"timeline-announce-blocked-{width}.png"), full_page=True)
    assert AwardSnapshot.objects.get().announced_at is None
