"""A student uploads from the lab page and watches the entry being graded, live."""

import pytest

from pages import browser_login
from submissions.models import Entry
from submissions.services import worker
from uploads import LEFT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_student_uploads_and_sees_the_result_arrive(
    page, enrolled, cartpole, settings, tmp_path, hidden_dir
):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_HIDDEN_DIR = hidden_dir
    cartpole.needs_writeup = False
    cartpole.save()
    agent = tmp_path / "agent.py"
    agent.write_bytes(LEFT)

    browser_login(page, "stu")
    page.goto(f"/labs/{cartpole.pk}/")
    page.set_input_files("#id_file", str(agent))
    page.click("#upload-form button[type=submit]")
    page.wait_for_url("**/entries/*/")
    assert page.locator("#status").inner_text() == "Queued"
    assert "position 1 in the queue" in page.locator("#queue-position").inner_text()

    # The worker grades it; the open page notices on its own.
    entry = Entry.objects.get()
    assert worker.run_execute(run_id=entry.runs.get().pk, worker="w1") == "scored"
    page.wait_for_function("document.getElementById('status').innerText === 'Scored'")
    table = page.locator("table.metrics[data-split=public]").inner_text()
    assert "Mean return" in table
    assert page.locator("table.metrics[data-split=private]").count() == 0


def test_refused_upload_shows_why(page, enrolled, cartpole, tmp_path):
    bad = tmp_path / "model.zip"
    bad.write_bytes(b"this is not a zip")
    browser_login(page, "stu")
    page.goto(f"/labs/{cartpole.pk}/")
    page.set_input_files("#id_file", str(bad))
    page.click("#upload-form button[type=submit]")
    page.wait_for_load_state()
    assert "zip" in page.locator(".messages li.error").inner_text().lower()
    assert not Entry.objects.exists()


@pytest.mark.parametrize("width", [1280, 390])
def test_after_the_deadline_the_counted_entry_cannot_change(page, enrolled, cartpole, staff, width):
    """Item 4: with the lab closed and revealed, the entry page offers no 'Make this my final
    entry' and says why; a forged POST is refused and the standing does not move."""
    from datetime import timedelta

    from django.utils import timezone

    from courses.models import EntrySelection
    from courses.services import lab_deadline_move
    from factories import scored_entry
    from leaderboards.services import lab_private_reveal
    from submissions.models import Participant
    from submissions.services import intake

    page.set_viewport_size({"width": width, "height": 900})
    cartpole.selection = EntrySelection.FINAL
    cartpole.save()
    first = scored_entry(enrolled, cartpole, {"mean_return": 10.0}, {"mean_return": 5.0})
    second = scored_entry(enrolled, cartpole, {"mean_return": 9.0}, {"mean_return": 50.0})
    intake.entry_mark_final(user=enrolled, entry=first)
    lab = lab_deadline_move(lab=cartpole, closes_at=timezone.now() - timedelta(minutes=1), by=staff)
    lab_private_reveal(lab=lab, by=staff)

    browser_login(page, "stu")
    page.goto(f"/entries/{second.pk}/")
    assert page.locator("text=Make this my final entry").count() == 0
    assert "your counted entry is fixed" in page.locator("#final-choice-closed").inner_text()
    from pathlib import Path

    shots = Path("/work/briefs/shots")
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / f"timeline-final-entry-fixed-{width}.png"), full_page=True)
    # A POST made by hand is refused with the same reason.
    page.goto(f"/entries/{first.pk}/")
    page.evaluate(
        """(url) => { const f = document.createElement('form'); f.method = 'post';
        f.action = url; const t = document.querySelector('[name=csrfmiddlewaretoken]');
        f.appendChild(t.cloneNode()); document.body.appendChild(f); f.submit(); }""",
        f"/entries/{second.pk}/final/",
    )
    page.wait_for_load_state()
    assert "counted entry is fixed" in page.locator(".messages").inner_text()
    assert Participant.objects.get(user=enrolled).standing_run.entry_id == first.pk
