"""The 2018 lab in a browser: the entry page and a judge's page show sample X-rays with the
model's class activation maps over them, correct and misclassified side by side, at desktop
and phone width. The figures are the grader's own: the demo's shortcut model graded on the
demo hidden set."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from factories import LabFactory, scored_entry
from grader.pipeline import GradeRequest, grade
from judging import services
from pages import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
LAB = "lab2-pneumothorax"


@pytest.fixture(scope="module")
def shortcut_report(reference_entries, hidden_dir):
    """The shortcut model's report on the demo hidden set (both splits), as staff grade it."""
    report = grade(GradeRequest(LAB, reference_entries / LAB / "shortcut.keras", hidden_dir))
    assert report.status == "scored", report.reason
    return report


def _shots(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _check_gallery(page, split: str, width: int) -> None:
    gallery = page.locator("#cam-samples")
    assert gallery.get_attribute("data-split") == split
    # Every thumbnail decoded (a 64x64 PNG), and each card has its map laid over the X-ray.
    page.wait_for_function(
        "[...document.querySelectorAll('#cam-samples img')].every(i => i.complete)"
    )
    sizes = page.evaluate(
        "[...document.querySelectorAll('#cam-samples img')].map(i => i.naturalWidth)"
    )
    assert sizes and set(sizes) == {64}
    cards = page.locator("#cam-samples figure.cam-card")
    assert cards.count() >= 2
    assert page.locator("#cam-samples img.heat").count() == cards.count()
    assert page.locator("#cam-samples .cam-wrong figure").count() >= 1  # the shortcut errs
    assert "Model:" in cards.first.inner_text() and "truth:" in cards.first.inner_text()
    assert page.locator("#cam-legend .cam-scale").is_visible()
    # The map lies exactly over its X-ray, and the page fits the screen.
    box = page.locator("#cam-samples .cam-overlay").first.bounding_box()
    heat = page.locator("#cam-samples img.heat").first.bounding_box()
    assert abs(box["width"] - heat["width"]) < 1 and abs(box["y"] - heat["y"]) < 1
    assert box["width"] >= 100  # readable: the 64 px X-ray is drawn larger, even on a phone
    assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_entry_page_and_the_judges_page_show_where_the_model_looked(
    page, shortcut_report, edition, student, judge, staff
):
    now = timezone.now()
    lab = LabFactory(
        edition=edition,
        spec_id=LAB,
        title="Lab 2 (2018): Pneumothorax detection in chest X-rays",
        opens_at=now - timedelta(days=9),
        closes_at=now + timedelta(days=1),
    )
    report = shortcut_report.to_dict()
    details = {k: v for k, v in report["details"].items() if k not in ("intervals", "outcomes")}
    entry = scored_entry(
        student,
        lab,
        report["split_metrics"]["public"],
        report["split_metrics"]["private"],
        details=details,
    )

    browser_login(page, "stu")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/entries/{entry.pk}/")
        _check_gallery(page, "public", width)
        assert page.locator("#roc-chart path.curve").count() == 1
        assert "Pointing game" in page.locator("table.metrics[data-split=public]").inner_text()
        _shots(page, f"cam-entry-{width}")
    private = details["cam_samples"]["private"]
    assert all(s["xray"] not in page.content() for s in private)  # before the reveal

    # After the deadline a judge sees the private split, beside the private results table.
    lab.closes_at = now - timedelta(hours=1)
    lab.save()
    services.lab_judging_configure(lab=lab, finalists=1, by=staff)
    services.judge_assign(lab=lab, judge=judge, by=staff)
    page.context.clear_cookies()
    browser_login(page, "judge")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"/judging/entries/{entry.pk}/")
        _check_gallery(page, "private", width)
        _shots(page, f"cam-judging-{width}")


@pytest.mark.parametrize("width", [1280, 390])
def test_the_lab_page_says_where_each_kind_of_entrys_maps_come_from(page, edition, student, width):
    now = timezone.now()
    lab = LabFactory(
        edition=edition,
        spec_id=LAB,
        title="Lab 2 (2018): Pneumothorax detection in chest X-rays",
        opens_at=now - timedelta(days=9),
        closes_at=now + timedelta(days=1),
    )
    page.set_viewport_size({"width": width, "height": 900})
    browser_login(page, "stu")
    page.goto(f"/labs/{lab.pk}/")
    rows = page.locator("#entry-io p.kind-io").all_inner_texts()
    assert any(r.startswith("PyTorch") and "[N, 1, 64, 64] (NCHW)" in r for r in rows), rows
    help_text = page.locator("#cam-help").inner_text()
    assert "GlobalAveragePooling2D" in help_text and "cams(x)" in help_text
    assert "def cams(x)" in "\n".join(page.locator("pre.kind-example").all_inner_texts())
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    _shots(page, f"cam-lab-page-{width}")
