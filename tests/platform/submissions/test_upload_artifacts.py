"""What the course's notebooks save but the grader cannot run is refused at upload, before
anything is queued and at no quota cost, with the fix spelled out: weights only (Keras
save_weights, PyTorch state dicts), torch.save pickles (recognised from their bytes, never
unpickled), and Keras files that do not load in the grader's Keras (loaded in a sandbox)."""

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from submissions.models import Entry, GradingRun
from submissions.services import intake
from submissions.services.intake import SubmissionRefused

KERAS_FIX = "save the whole model with model.save('model.keras')"
TORCH_FIX = "torch.jit.trace(model, example_input).save('model.pt')"
REBUILD = "upload a submission.py that rebuilds the model and loads these weights"

REFUSED = [
    # (lab, file, what the message must say)
    ("lab2-mnist", "mnist_cnn.weights.h5", ["holds weights only (Keras save_weights)", KERAS_FIX]),
    ("lab2-debias", "dbvae.weights.h5", ["holds weights only (Keras save_weights)", REBUILD]),
    ("lab2-mnist", "mnist_cnn.pth", ["holds weights only (a PyTorch state dict", TORCH_FIX]),
    ("lab2-debias", "faces_standard.pth", ["holds weights only (a PyTorch state dict", REBUILD]),
    ("lab2-debias", "faces_legacy.pt", ["holds weights only (a PyTorch state dict", TORCH_FIX]),
    ("lab2-mnist", "mnist_cnn_whole.pth", ["is a pickled PyTorch model", "never unpickles"]),
]


def _upload(path, name=None):
    return SimpleUploadedFile(name or path.name, path.read_bytes())


def _lab(request, spec_id):
    return request.getfixturevalue({"lab2-mnist": "mnist", "lab2-debias": "debias"}[spec_id])


def _nothing_counted(user):
    assert not Entry.objects.filter(user=user).exists()
    assert not GradingRun.objects.exists()


@pytest.mark.slow
@pytest.mark.parametrize(("spec_id", "name", "says"), REFUSED)
def test_a_notebook_checkpoint_is_refused_with_its_fix(
    request, enrolled, course_entries, spec_id, name, says
):
    lab = _lab(request, spec_id)
    with pytest.raises(SubmissionRefused) as refused:
        intake.entry_submit(user=enrolled, lab=lab, upload=_upload(course_entries[name]))
    for words in says:
        assert words in str(refused.value), str(refused.value)
    assert str(refused.value).startswith(name)
    _nothing_counted(enrolled)


@pytest.mark.slow
def test_a_checkpoint_inside_a_zip_is_refused_too(enrolled, mnist, course_entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("writeup.md", "# notes\n")
        zf.writestr("model/mnist_cnn.pth", course_entries["mnist_cnn.pth"].read_bytes())
    upload = SimpleUploadedFile("entry.zip", buffer.getvalue())
    with pytest.raises(SubmissionRefused, match="holds weights only"):
        intake.entry_submit(user=enrolled, lab=mnist, upload=upload)
    _nothing_counted(enrolled)


@pytest.mark.slow
def test_a_keras_file_that_does_not_load_is_refused_after_a_sandbox_load(
    enrolled, debias, course_entries, settings
):
    # Room for TensorFlow's start on a busy machine: a check that runs out of time refuses
    # nothing, which is not what this test is about.
    settings.UPLOAD_LOAD_CHECK_S = 180
    debias.needs_writeup = False
    debias.save()
    with pytest.raises(SubmissionRefused) as refused:
        intake.entry_submit(
            user=enrolled, lab=debias, upload=_upload(course_entries["dbvae_subclassed.keras"])
        )
    text = str(refused.value)
    assert text.startswith("dbvae_subclassed.keras does not load in the grader's Keras")
    assert "DB_VAE" in text  # the raised error, kept
    assert "or upload a submission.py that rebuilds the model" in text
    _nothing_counted(enrolled)


@pytest.mark.slow
def test_the_course_models_pass_the_load_check_and_are_queued(enrolled, mnist, course_entries):
    mnist.needs_writeup = False
    mnist.save()
    for name in ("mnist_cnn.keras", "mnist_cnn.h5", "mnist_cnn.pt"):
        entry = intake.entry_submit(user=enrolled, lab=mnist, upload=_upload(course_entries[name]))
        assert entry.runs.get().status == "queued"


def test_no_load_check_when_the_student_has_no_entries_left(enrolled, mnist, monkeypatch):
    """A student out of quota gets no free sandbox load: refused before it."""
    loads = []
    monkeypatch.setattr(intake, "entry_check_loads", lambda *a: loads.append(a))
    mnist.max_entries_total = 0
    mnist.needs_writeup = False
    mnist.save()
    keras_zip = io.BytesIO()
    with zipfile.ZipFile(keras_zip, "w") as zf:
        zf.writestr("config.json", "{}")
        zf.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    upload = SimpleUploadedFile("model.keras", keras_zip.getvalue())
    with pytest.raises(SubmissionRefused, match="You have used all 0 entries"):
        intake.entry_submit(user=enrolled, lab=mnist, upload=upload)
    assert loads == []
