"""What an entry printed or how it ended on the private split (a run of its own, after its
author's window) reaches a student only after the private split is revealed to them (API,
entry page, email); staff see it always. The grader half: tests/grader/test_private_split.py
and tests/grader/test_split_grading.py."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from courses.models import Lab
from submissions.models import GradingRun, Status
from submissions.services import intake, reaper, worker
from tests.grader.private_split import PRINTS_RETURNS, misbehaves_in_private, printed_returns
from uploads import upload
from windows import close_window, grade_private_split


@pytest.fixture(autouse=True)
def _grading_settings(settings, tmp_path, hidden_dir):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_HIDDEN_DIR = hidden_dir
    settings.GRADER_BACKEND = "process"


def _graded(user, lab, source: str, capture) -> GradingRun:
    """Graded on the public split in the window, then on the private split after it."""
    entry = intake.entry_submit(user=user, lab=lab, upload=upload(source.encode()))
    run = entry.runs.get()
    with capture(execute=True):
        assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
        close_window(lab)
        assert len(grade_private_split()) == 1
    run.refresh_from_db()
    return run


def _seen(client_as, name: str, run: GradingRun) -> tuple[str, dict]:
    client = client_as(name)
    page = client.get(reverse("entry-detail", args=[run.entry_id]))
    api = client.get(reverse("api-entry", args=[run.entry_id]))
    assert page.status_code == api.status_code == 200
    return _no_csrf(page.content.decode()), api.json()


def _no_csrf(page: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", page)


def _reveal(lab: Lab) -> None:
    # A reveal holds only once the lab's deadline has passed (issue 12).
    close_window(lab, reveal=True)


@pytest.mark.parametrize("backend", ["process", pytest.param("docker", marks=pytest.mark.docker)])
def test_returns_printed_in_private_episodes_reach_the_student_only_after_the_reveal(
    enrolled, cartpole, client_as, mailoutbox, django_capture_on_commit_callbacks, settings, backend
):
    if backend == "docker":
        from engines import require_docker_engine

        require_docker_engine()
    settings.GRADER_BACKEND = backend
    run = _graded(enrolled, cartpole, PRINTS_RETURNS, django_capture_on_commit_callbacks)
    public = [int(r) for r in run.details["returns"]["public"]]
    private = [int(r) for r in run.details["returns"]["private"]]
    assert printed_returns(run.logs) == public
    assert printed_returns(run.private_session["logs"]) == private

    page, api = _seen(client_as, "student", run)
    assert page.count("RETURN ") == api["log"].count("RETURN ") == len(public)
    assert api["private_session"] is None and "RETURN" not in json.dumps(api["metrics"])
    assert 'id="private-withheld"' in page and 'id="private-logs"' not in page
    # One email, about the public run: the private run's outcome waits for the reveal.
    assert len(mailoutbox) == 1 and "RETURN" not in mailoutbox[0].body

    page, api = _seen(client_as, "staff", run)
    assert page.count("RETURN ") == len(public) + len(private)
    assert printed_returns(api["private_session"]["logs"]) == private

    _reveal(cartpole)
    page, api = _seen(client_as, "student", run)
    assert page.count("RETURN ") == len(public) + len(private)
    assert printed_returns(api["private_session"]["logs"]) == private
    assert 'id="private-withheld"' not in page


def test_a_crash_in_private_episodes_looks_like_any_scored_run_until_the_reveal(
    enrolled, cartpole, client_as, hidden_dir, mailoutbox, django_capture_on_commit_callbacks
):
    seeds = json.loads((hidden_dir / "lab3-cartpole-v1/labels/seeds.json").read_text())
    source = misbehaves_in_private("raises", tuple(seeds["public"]))
    run = _graded(enrolled, cartpole, source, django_capture_on_commit_callbacks)
    assert run.status == Status.SCORED and run.reason == ""
    assert run.private_session["status"] == "failed"
    assert set(run.split_metrics) == {"public"}

    page, api = _seen(client_as, "student", run)
    assert api["status"] == "scored" and api["reason"] == ""
    assert "PRIVATE SPLIT SEEN" not in page + json.dumps(api) + mailoutbox[0].body
    # The student's view is the same as if the private episodes had gone well.
    private = run.private_session
    GradingRun.objects.filter(pk=run.pk).update(
        private_session={**private, "status": "scored", "reason": "", "logs": "all fine"}
    )
    assert _seen(client_as, "student", run) == (_no_csrf(page), api)
    GradingRun.objects.filter(pk=run.pk).update(private_session=private)

    page, api = _seen(client_as, "staff", run)
    assert "PRIVATE SPLIT SEEN" in page and api["private_session"]["status"] == "failed"

    _reveal(cartpole)
    page, api = _seen(client_as, "student", run)
    assert "PRIVATE SPLIT SEEN" in page and api["private_session"]["status"] == "failed"


def test_other_students_never_see_the_private_session(enrolled, cartpole, client_as):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    GradingRun.objects.filter(pk=entry.runs.get().pk).update(
        status=Status.SCORED, private_session={"status": "scored", "logs": "private words"}
    )
    _reveal(cartpole)
    client = client_as("other_student")
    assert client.get(reverse("entry-detail", args=[entry.pk])).status_code == 404
    assert client.get(reverse("api-entry", args=[entry.pk])).status_code == 404


def test_the_reaper_gives_a_run_the_time_of_its_one_sandbox_session(enrolled, cartpole):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload())
    run = entry.runs.get()
    worker.run_claim(run_id=run.pk, worker="w1")
    wall = 300  # lab3-cartpole's limit per sandbox session; a run plays one split
    now = timezone.now()
    started = now - timedelta(seconds=wall) - reaper.RUN_GRACE + timedelta(seconds=5)
    GradingRun.objects.filter(pk=run.pk).update(started_at=started, heartbeat_at=now)
    assert reaper.runs_reap(now=now)["requeued"] == 0
    later = started + timedelta(seconds=wall) + reaper.RUN_GRACE + timedelta(seconds=1)
    GradingRun.objects.filter(pk=run.pk).update(heartbeat_at=later)
    assert reaper.runs_reap(now=later)["requeued"] == 1
