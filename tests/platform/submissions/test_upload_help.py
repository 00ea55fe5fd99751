"""Each lab page shows upload help and a notebook snippet that fit its own entry kinds, and
the snippet, run as printed (with a token pasted in) next to a fitting entry, is accepted by
the upload API."""

import html
import io
import re
import sys
import types
import zipfile
from urllib.parse import urlsplit

import numpy as np
import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.services import token_create
from factories import EnrollmentFactory, LabFactory
from grader.specs import load_all_specs, load_spec
from submissions.models import Entry

pytestmark = pytest.mark.django_db

SPECS = [spec.id for spec in load_all_specs()]


def _keras_shaped() -> bytes:
    """A zip laid out as model.save('model.keras') writes it (its contents are not read
    here: the sandbox load check, off in these tests, is tested with real models)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for member in ("metadata.json", "config.json", "model.weights.h5"):
            zf.writestr(member, "{}")
    return buffer.getvalue()


ENTRY_BYTES = {
    "model.keras": _keras_shaped(),
    "model.pt": b"torchscript",
    "submission.py": b"def predict(x):\n    return x\n",
}


def _fake_requests(client: APIClient) -> types.ModuleType:
    """`requests.post` answered by the site's API in-process (the URL's path, the headers
    and the file exactly as the snippet sends them)."""

    def post(url, headers, files):
        response = client.post(
            urlsplit(url).path,
            {"file": files["file"]},
            format="multipart",
            HTTP_AUTHORIZATION=headers["Authorization"],
        )
        return types.SimpleNamespace(status_code=response.status_code, json=response.json)

    module = types.ModuleType("requests")
    module.post = post  # type: ignore[attr-defined]
    return module


def _lab(edition, spec_id: str, needs_writeup: bool):
    now = timezone.now()
    return LabFactory(
        edition=edition,
        spec_id=spec_id,
        opens_at=now - timezone.timedelta(days=1),
        closes_at=now + timezone.timedelta(days=1),
        needs_writeup=needs_writeup,
    )


@pytest.mark.parametrize("needs_writeup", [True, False])
@pytest.mark.parametrize("spec_id", SPECS)
def test_the_snippet_of_each_lab_is_accepted_by_the_upload_api(
    edition, student, client_as, monkeypatch, tmp_path, capsys, spec_id, needs_writeup, settings
):
    settings.UPLOAD_LOAD_CHECK = False
    lab = _lab(edition, spec_id, needs_writeup)
    EnrollmentFactory(edition=edition, user=student)
    page = client_as("student").get(f"/labs/{lab.pk}/").content.decode()
    code = html.unescape(re.search(r'<pre id="notebook-snippet">(.*?)</pre>', page, re.S)[1])

    # The student's folder: a fitting entry (the file the snippet names) and a write-up.
    entry_file = re.search(r'(?:z\.write|open)\("(model\.keras|model\.pt|submission\.py)"', code)
    (tmp_path / entry_file[1]).write_bytes(ENTRY_BYTES[entry_file[1]])
    (tmp_path / "writeup.md").write_text("# What I did\n")
    monkeypatch.chdir(tmp_path)
    _, key = token_create(user=student, name="colab")
    assert 'TOKEN = "paste your token here"' in code
    code = code.replace('"paste your token here"', repr(key))
    monkeypatch.setitem(sys.modules, "requests", _fake_requests(APIClient()))

    exec(compile(code, "notebook", "exec"), {})

    printed = capsys.readouterr().out
    assert printed.startswith("201 "), printed
    entry = Entry.objects.get(lab=lab)
    assert entry.has_writeup == needs_writeup


@pytest.mark.parametrize("spec_id", SPECS)
def test_the_upload_help_fits_the_lab(edition, client_as, spec_id):
    lab = _lab(edition, spec_id, needs_writeup=True)
    page = client_as("student").get(f"/labs/{lab.pk}/").content.decode()
    help_text = re.search(r'<span class="muted" id="upload-help">(.*?)</span>', page, re.S)[1]
    assert ("songs.abc" in help_text) == spec_id.startswith("lab1-music")
    assert ("songs.abc" in page) == spec_id.startswith("lab1-music")
    assert "writeup.md or writeup.pdf (required)" in help_text


@pytest.mark.parametrize("spec_id", SPECS)
def test_a_next_character_lab_says_what_the_grader_sends_with_an_example_per_kind(
    edition, client_as, spec_id
):
    lab = _lab(edition, spec_id, needs_writeup=False)
    page = client_as("student").get(f"/labs/{lab.pk}/").content.decode()
    stepped = load_spec(spec_id).task == "next_char"
    assert ('id="grader-sends"' in page) == stepped
    if not stepped:
        return
    section = re.search(r'<div class="card" id="grader-sends">(.*?)</div>', page, re.S)[1]
    assert "never sends the text" in section and "step(chars)" in section
    titles = re.findall(r"<h3>(.*?)</h3>", section)
    assert titles == ["Keras", "PyTorch (TorchScript)", "Code"]
    examples = [
        html.unescape(c)
        for c in re.findall(r'<pre class="entry-example">(.*?)</pre>', section, re.S)
    ]
    # The code example runs as printed: start, then one step of 3 rows.
    namespace: dict = {}
    exec(compile(examples[2], "submission.py", "exec"), namespace)
    namespace["start"](3)
    scores = namespace["step"](np.array([1, 2, 3]))
    assert scores.shape == (3, 83) and np.isfinite(scores).all()
    assert "torch.jit.trace(Stepped(model)" in examples[1] and "model.save" in examples[0]
