"""The sample X-rays of the 2018 lab through the real worker: an upload graded while its
window is open stores public-split images only; the private run after the window adds the
private ones to the public run it completes; the owner sees those only once the reveal
reaches them, and the entry API carries none of them."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from factories import LabFactory
from submissions.models import GradingRun
from submissions.services import intake, worker
from uploads import upload
from windows import close_window, grade_private_split

# Brighter X-rays score higher; the map is the image itself (its bright parts).
ENTRY = b"""
import numpy as np

def predict(x):
    return x.mean(axis=(1, 2, 3))

def cams(x):
    return x[..., 0]
"""


@pytest.fixture(autouse=True)
def _grading_settings(settings, tmp_path, hidden_dir):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_HIDDEN_DIR = hidden_dir
    settings.GRADER_BACKEND = "process"


@pytest.fixture
def xrays(edition):
    now = timezone.now()
    return LabFactory(
        edition=edition,
        spec_id="lab2-pneumothorax",
        title="Lab 2 (2018): Pneumothorax",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=1),
        needs_writeup=False,
    )


def _images(run: GradingRun, split: str) -> list[str]:
    return [s["xray"] for s in run.details["cam_samples"][split]]


@pytest.mark.slow
@pytest.mark.django_db
def test_private_images_reach_the_owner_only_with_the_reveal(enrolled, xrays, client_as):
    entry = intake.entry_submit(user=enrolled, lab=xrays, upload=upload(ENTRY))
    run = entry.runs.get()
    assert worker.run_execute(run_id=run.pk, worker="w1") == "scored"
    run.refresh_from_db()
    assert set(run.details["cam_samples"]) == {"public"}
    assert run.details["cam"]["source"] == "entry"
    assert set(run.split_metrics["public"]) >= {"roc_auc", "pointing_game", "cam_mass_inside"}
    public = _images(run, "public")

    close_window(xrays)
    (private_run,) = grade_private_split()
    assert private_run.status == "scored"
    run.refresh_from_db()
    assert set(run.details["cam_samples"]) == {"public", "private"}
    private = _images(run, "private")
    assert private and not set(private) & set(public)

    client = client_as("student")
    page = client.get(reverse("entry-detail", args=[entry.pk])).content.decode()
    assert all(i in page for i in public) and not any(i in page for i in private)
    api = client.get(reverse("api-entry", args=[entry.pk])).content.decode()
    assert not any(i in api for i in public + private) and "cam_samples" not in api

    close_window(xrays, reveal=True)
    page = client.get(reverse("entry-detail", args=[entry.pk])).content.decode()
    assert 'data-split="private"' in page and all(i in page for i in private)
