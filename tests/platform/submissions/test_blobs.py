"""Uploads and hidden-set bundles by digest: the workers' endpoint, the cache, the bundles."""

import hashlib
import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from hidden_sets import LAB, PERFECT, build_bundle, new_lab, zip_bytes
from submissions import blobs
from submissions.models import HiddenSet
from submissions.services import hidden_sets, intake
from uploads import upload

TOKEN = "t" * 40


@pytest.fixture
def lab_specs(tmp_path, monkeypatch):
    specs = tmp_path / "specs"
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))
    new_lab(specs)
    return specs


@pytest.fixture
def site(settings, tmp_path):
    settings.PLATFORM_WORKER_TOKEN = TOKEN
    settings.PLATFORM_SITE_URL = ""
    settings.GRADER_CACHE_DIR = tmp_path / "cache"
    return settings


def bundle_upload(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("set.zip", data)


@pytest.mark.django_db
def test_staff_upload_a_set_bundle_from_the_staff_page(lab_specs, site, staff, tmp_path, client):
    data = build_bundle(tmp_path)
    client.force_login(staff)
    page = client.get("/staff/hidden-sets/")
    assert page.status_code == 200 and LAB in page.content.decode()
    response = client.post("/staff/hidden-sets/", {"spec_id": LAB, "bundle": bundle_upload(data)})
    assert response.status_code == 302
    hidden_set = HiddenSet.objects.get(spec_id=LAB)
    assert hidden_set.bundle_sha256 == hashlib.sha256(data).hexdigest()
    assert hidden_set.name == f"{LAB}-v1" and hidden_set.checksum.startswith("sha256:")
    assert hidden_set.checksum in client.get("/staff/hidden-sets/").content.decode()


@pytest.mark.django_db
def test_students_cannot_upload_sets(lab_specs, site, student, tmp_path, client):
    client.force_login(student)
    data = build_bundle(tmp_path)
    response = client.post("/staff/hidden-sets/", {"spec_id": LAB, "bundle": bundle_upload(data)})
    assert response.status_code == 403
    assert not HiddenSet.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (lambda m: {**m, "../escape.txt": b"x"}, "only manifest.json, inputs/ and labels/"),
        (lambda m: {**m, "labels/labels.npz": m["labels/labels.npz"][:-9]}, "does not match"),
        (lambda m: {**m, "inputs/extra.npy": b"x"}, "inputs/extra.npy: not in the manifest"),
        (lambda m: {k: v for k, v in m.items() if k != "manifest.json"}, "unreadable manifest"),
    ],
)
def test_a_bad_bundle_is_refused_with_the_reason(lab_specs, site, staff, tmp_path, tamper, message):
    with zipfile.ZipFile(io.BytesIO(build_bundle(tmp_path))) as zf:
        members = {name: zf.read(name) for name in zf.namelist()}
    with pytest.raises(hidden_sets.HiddenSetRefused, match=message):
        hidden_sets.hidden_set_upload(
            user=staff, spec_id=LAB, upload=bundle_upload(zip_bytes(tamper(members)))
        )
    assert not HiddenSet.objects.exists()


@pytest.mark.django_db
def test_a_bundle_for_another_lab_is_refused(lab_specs, site, staff, tmp_path):
    data = build_bundle(tmp_path)
    with pytest.raises(hidden_sets.HiddenSetRefused, match="not lab2-mnist"):
        hidden_sets.hidden_set_upload(user=staff, spec_id="lab2-mnist", upload=bundle_upload(data))


@pytest.mark.django_db
def test_the_blob_endpoint_needs_the_worker_token(site, enrolled, cartpole, client, settings):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(PERFECT))
    url = f"/internal/blobs/{entry.sha256}/"
    assert client.get(url).status_code == 403
    assert client.get(url, HTTP_AUTHORIZATION="Bearer " + "x" * 40).status_code == 403
    assert client.get(url, HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 403
    response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and b"".join(response.streaming_content) == PERFECT
    auth = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
    assert client.get(f"/internal/blobs/{'0' * 64}/", **auth).status_code == 404
    assert client.get("/internal/blobs/..%2f..%2fetc/", **auth).status_code == 404
    # A short token is refused even when it matches: a deployment must set a real one.
    settings.PLATFORM_WORKER_TOKEN = "short"
    assert client.get(url, HTTP_AUTHORIZATION="Bearer short").status_code == 403


@pytest.mark.django_db
def test_a_changed_cached_file_is_fetched_again(site, enrolled, cartpole):
    entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(PERFECT))
    path = blobs.cached_blob(entry.sha256, 2**20)
    assert path.read_bytes() == PERFECT and path.parent == Path(site.GRADER_CACHE_DIR) / "blobs"
    path.write_bytes(b"def act(o):\n    return 1\n")  # someone changed it on the worker
    again = blobs.cached_blob(entry.sha256, 2**20)
    assert again.read_bytes() == PERFECT
    with pytest.raises(blobs.BlobUnavailable, match="no stored file"):
        blobs.cached_blob("0" * 64, 2**20)


@pytest.mark.django_db
def test_the_public_sample_set_downloads_from_the_lab_page(settings, tmp_path, client, student):
    from factories import LabFactory

    hidden = tmp_path / "hidden"
    sample = hidden / "samples" / "lab2-mnist"
    (sample / "labels").mkdir(parents=True)
    (sample / "inputs").mkdir()
    (sample / "labels" / "labels.npz").write_bytes(b"public labels")
    (sample / "inputs" / "images.npy").write_bytes(b"public images")
    (hidden / "lab2-mnist-v1" / "labels").mkdir(parents=True)
    (hidden / "lab2-mnist-v1" / "labels" / "labels.npz").write_bytes(b"SECRET")
    (sample / "inputs" / "link.npy").symlink_to(hidden / "lab2-mnist-v1" / "labels/labels.npz")
    settings.GRADER_HIDDEN_DIR = hidden
    lab = LabFactory(spec_id="lab2-mnist")

    client.force_login(student)
    page = client.get(f"/labs/{lab.pk}/").content.decode()
    assert 'href="/samples/lab2-mnist.zip"' in page and "not the hidden test set" in page
    client.logout()
    response = client.get("/samples/lab2-mnist.zip")  # public data: no login needed
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as zf:
        assert sorted(zf.namelist()) == [
            "samples/lab2-mnist/inputs/images.npy",
            "samples/lab2-mnist/labels/labels.npz",
        ]
        assert b"SECRET" not in b"".join(zf.read(n) for n in zf.namelist())
    assert client.get("/samples/lab2-debias.zip").status_code == 404  # no such lab here
    LabFactory(spec_id="lab3-pong", edition=lab.edition)
    assert client.get("/samples/lab3-pong.zip").status_code == 404  # no sample set
