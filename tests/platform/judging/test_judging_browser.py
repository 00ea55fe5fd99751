"""A judge reads finalists' entries in a browser (songs as sheet music, charts from the
grader's report, the write-up) and scores one, on a desktop and at phone width."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from factories import LabFactory, scored_entry
from judging import services
from judging.models import EntryScore
from pages import browser_login

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SONGS = b"""X:1
T:The Generated Reel
M:4/4
L:1/8
K:D
|:dAFA dAFA|BGEG BGEG|dAFA dAFA|Bcde fdec:|

X:2
T:Second Jig
M:6/8
L:1/8
K:G
|:GAB dBG|cBA BGE|GAB dBG|AGF G3:|
"""

WRITEUP = b"""# Debiasing with a VAE

We **resample** rare faces. Loss curve: ![loss](figures/loss.png)

| group | accuracy |
|---|---|
| DF | 70 |
"""

DETAILS = {  # per split, as the grader reports it; a judge after the deadline sees private
    "group_accuracy": {"private": {"LF": 92.0, "LM": 90.0, "DF": 70.0, "DM": 76.0}},
    "roc_curve": {
        "private": {"fpr": [0.0, 0.05, 0.1, 0.3, 1.0], "tpr": [0.0, 0.6, 0.8, 0.95, 1.0]}
    },
}


def test_a_judge_hears_a_song_sees_the_charts_and_scores_an_entry(
    page, closed_debias, edition, student, other_student, judge, staff, store_zip, png
):
    music = LabFactory(
        edition=edition,
        spec_id="lab1-music",
        title="Lab 1: Music",
        opens_at=timezone.now() - timedelta(days=9),
        closes_at=timezone.now() - timedelta(hours=1),
    )
    song_entry = scored_entry(
        student, music, {"bits_per_char": 2.1}, {"bits_per_char": 2.0}, details={"songs": 2}
    )
    store_zip(song_entry, {"submission.py": b"", "songs.abc": SONGS, "writeup.md": b"Songs!"})
    face_entry = scored_entry(
        other_student,
        closed_debias,
        {"mean_group_auc": 0.92, "debias_accuracy": 82.0},
        {"mean_group_auc": 0.915, "debias_accuracy": 81.5},
        details=DETAILS,
    )
    store_zip(
        face_entry,
        {"submission.py": b"", "writeup.md": WRITEUP, "figures/loss.png": png(120, 60)},
    )
    for lab in (music, closed_debias):
        services.judge_assign(lab=lab, judge=judge, by=staff)

    browser_login(page, "judge")
    page.click("nav >> text=Judging")
    assert page.locator("table.queue").count() == 2

    # The song renders as sheet music (abcjs draws an SVG) and can be played.
    page.click(f"a[href='/judging/entries/{song_entry.pk}/']")
    page.wait_for_selector("#song-0 svg")
    assert page.locator("#song-0 svg path").count() > 10
    assert page.locator("#song-1 svg").count() == 1
    page.click("#song-play-0")
    assert page.locator("#song-play-0").inner_text().startswith("■")
    page.click("#song-play-0")
    page.screenshot(path=str(SCREENSHOTS / "judging-song.png"), full_page=True)

    # The face detector's charts draw, and the judge scores the entry.
    page.goto("/judging/")
    page.click(f"a[href='/judging/entries/{face_entry.pk}/']")
    assert page.locator("#group-chart rect.bar").count() == 4
    assert page.locator("#roc-chart path.curve").get_attribute("d").startswith("M")
    assert page.locator("#writeup strong").inner_text() == "resample"
    page.wait_for_function("document.querySelector('#writeup img').complete")
    assert page.evaluate("document.querySelector('#writeup img').naturalWidth") == 120
    assert page.locator("#criterion1").inner_text() == "4 / 5"  # 0.915 on private
    page.select_option("#soundness", "4")
    page.select_option("#descriptions", "5")
    page.fill("#comment", "Clear figures.")
    page.click("#score-form button[type=submit]")
    assert "saved" in page.locator(".messages").inner_text()
    score = EntryScore.objects.get(judge=judge, entry=face_entry)
    assert (score.soundness, score.descriptions, score.comment) == (4, 5, "Clear figures.")
    assert page.locator("#scores-hidden").count() == 1
    page.screenshot(path=str(SCREENSHOTS / "judging-entry-desktop.png"), full_page=True)

    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.screenshot(path=str(SCREENSHOTS / "judging-entry-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.goto(f"/judging/entries/{song_entry.pk}/")
    page.wait_for_selector("#song-0 svg")
    page.screenshot(path=str(SCREENSHOTS / "judging-song-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
