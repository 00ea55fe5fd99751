"""The entry page and the judges' page draw the grader's figures (the ROC curve, sample images
with their class activation maps) for one split the viewer may see: the public split before
the reveal reaches them, never a private image before then."""

from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from factories import LabFactory, scored_entry
from grader import cams
from judging import services

pytestmark = pytest.mark.django_db


def samples(shade: float) -> list[dict]:
    """Two rendered samples as the worker stores them: a correct negative and a missed
    positive with its marked region (each image of its own shade, to tell the splits apart)."""
    images = {0: np.full((64, 64, 1), shade, np.float32), 1: np.full((64, 64, 1), shade + 0.05)}
    maps = np.zeros((2, 64, 64))
    corner = round(shade * 10)
    maps[:, corner : corner + 8, 2:10] = 1.0  # near the corner
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[1, 20:30, 40:50] = 1
    y, scores = np.array([0, 1]), np.array([0.1, 0.2])
    return cams.render_samples(images, maps, masks, y, scores, [(0, True), (1, False)])


ROC = {
    "public": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.5, 1.0]},
    "private": {"fpr": [0.0, 0.1, 1.0], "tpr": [0.0, 0.9, 1.0]},
}


@pytest.fixture
def xray_lab(edition):
    now = timezone.now()
    return LabFactory(
        edition=edition,
        spec_id="lab2-pneumothorax",
        title="Lab 2 (2018): Pneumothorax",
        opens_at=now - timedelta(days=9),
        closes_at=now + timedelta(days=1),
    )


@pytest.fixture
def entry(xray_lab, student):
    details = {
        "cam_samples": {"public": samples(0.2), "private": samples(0.6)},
        "cam": {"source": "grader", "note": ""},
        "roc_curve": ROC,
    }
    return scored_entry(student, xray_lab, {"roc_auc": 0.6}, {"roc_auc": 0.55}, details=details)


def _page(client, entry) -> str:
    response = client.get(reverse("entry-detail", args=[entry.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_before_the_reveal_the_owner_sees_public_samples_and_no_private_image(entry, client_as):
    html = _page(client_as("student"), entry)
    public, private = entry.runs.get().details["cam_samples"].values()
    assert 'id="cam-samples" data-split="public"' in html
    assert public[0]["xray"] in html and public[1]["heat"] in html
    assert all(s["xray"] not in html and s["heat"] not in html for s in private)
    assert "Correct (1)" in html and "Misclassified (1)" in html
    assert "truth: pneumothorax (region marked)" in html and "0.200</strong> pneumothorax" in html
    assert 'id="cam-legend"' in html and "linear-gradient(to right, rgba(" in html
    assert "Pneumothorax vs no pneumothorax, public split" in html and 'id="roc-chart"' in html


def test_once_the_reveal_reaches_the_owner_the_private_samples_are_shown(
    entry, xray_lab, client_as
):
    xray_lab.closes_at = timezone.now() - timedelta(hours=1)
    xray_lab.private_revealed = True
    xray_lab.save()
    html = _page(client_as("student"), entry)
    private = entry.runs.get().details["cam_samples"]["private"]
    assert 'data-split="private"' in html and private[0]["xray"] in html


def test_without_private_figures_yet_staff_see_the_public_ones(xray_lab, student, client_as):
    entry = scored_entry(
        student,
        xray_lab,
        {"roc_auc": 0.6},
        details={"cam_samples": {"public": samples(0.3)}, "cam": {"source": "entry"}},
    )
    html = _page(client_as("staff"), entry)
    assert 'data-split="public"' in html and "its <code>cams(x)</code>" in html


@pytest.mark.parametrize(
    "bad",
    [
        "javascript:alert(1)",
        '"><script>alert(1)</script>',
        "aGVsbG8gd29ybGQ=",  # base64, but not of a PNG
        12,
        "iVBORw0KGgo" + "A" * 400_000,  # too large for a thumbnail
    ],
)
def test_sample_data_that_is_no_png_thumbnail_is_not_drawn(xray_lab, student, client_as, bad):
    good = samples(0.4)
    hostile = [{**good[0], "xray": bad}, {**good[1], "heat": bad, "probability": "1e9"}]
    entry = scored_entry(
        student, xray_lab, {"roc_auc": 0.6}, details={"cam_samples": {"public": hostile}}
    )
    html = _page(client_as("student"), entry)
    assert "<script>alert" not in html and "javascript:" not in html
    assert good[0]["xray"] not in html or good[0]["xray"] == good[1]["xray"]
    assert good[1]["xray"] in html and "Misclassified (1)" in html and "Correct (0)" in html
    assert "<strong>–</strong>" in html  # a probability that is not a number is not shown


def test_the_judge_sees_the_samples_of_the_split_beside_the_table(
    entry, xray_lab, judge, staff, client_as
):
    services.lab_judging_configure(lab=xray_lab, finalists=1, by=staff)
    services.judge_assign(lab=xray_lab, judge=judge, by=staff)
    details = entry.runs.get().details["cam_samples"]
    # Judges meet the finalists once every window has closed, with the private split's
    # figures beside its table, as staff do.
    type(xray_lab).objects.filter(pk=xray_lab.pk).update(
        closes_at=timezone.now() - timedelta(minutes=1)
    )
    for viewer, split in (("judge", "private"), ("staff", "private")):
        response = client_as(viewer).get(reverse("judging-entry", args=[entry.pk]))
        html = response.content.decode()
        assert response.context["results_split"] == split
        other = "private" if split == "public" else "public"
        assert f'data-split="{split}"' in html and details[split][1]["heat"] in html
        assert details[other][0]["xray"] not in html
        assert f"(pneumothorax vs no pneumothorax, {split} split)" in html
