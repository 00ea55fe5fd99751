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
