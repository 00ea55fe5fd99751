"""Each entry kind receives image inputs in its framework's layout (lab spec [input.layout]):
Keras and code NHWC, PyTorch NCHW, from the same hidden data; a spec may say otherwise."""

import tomllib

import pytest

from grader.errors import SpecError
from grader.specs import REPO_DIR, parse_spec
from tests.grader import synth


def _raw(lab: str) -> dict:
    return tomllib.loads((REPO_DIR / "lab_specs" / f"{lab}.toml").read_text())


def test_each_framework_gets_its_own_layout_by_default():
    debias = parse_spec(_raw("lab2-debias"))
    assert debias.input.layout("keras") == "channels_last"
    assert debias.input.layout("torch") == "channels_first"
    assert debias.input.layout("code") == "channels_last"
    assert debias.input.shape_for("torch") == (3, 64, 64)
    assert debias.input.shape_for("keras") == (64, 64, 3)
    io = debias.entry_io("torch")
    assert "[N, 3, 64, 64] (NCHW) in [0, 1]" in io.receives
    assert "[N, 64, 64, 3] (NHWC)" in debias.entry_io("keras").receives
    pong = parse_spec(_raw("lab3-pong"))
    assert "[1, 1, 40, 40] (NCHW)" in pong.entry_io("torch").receives
    assert "[40, 40, 1]" in pong.entry_io("code").receives
    # No image, nothing to lay out (and the spec hash of such labs is unchanged).
    cartpole = parse_spec(_raw("lab3-cartpole"))
    assert cartpole.input.layouts == () and cartpole.input.shape_for("torch") == (4,)
    assert "layouts" not in str(_raw("lab3-cartpole"))


def test_a_spec_can_choose_the_layout_per_kind():
    raw = _raw("lab2-mnist")
    raw["input"]["layout"] = {"code": "channels_first", "torch": "channels_last"}
    spec = parse_spec(raw)
    assert spec.input.layout("code") == "channels_first"
    assert spec.input.layout("torch") == "channels_last"
    assert spec.input.layout("keras") == "channels_last"
    assert spec.spec_hash != parse_spec(_raw("lab2-mnist")).spec_hash


@pytest.mark.parametrize(
    ("lab", "layout", "message"),
    [
        ("lab2-mnist", {"torch": "NCHW"}, "must be one of channels_last, channels_first"),
        ("lab2-mnist", {"onnx": "channels_first"}, "'onnx' is not an entry kind"),
        ("lab3-cartpole", {"torch": "channels_first"}, "only to an image input"),
    ],
)
def test_bad_layouts_are_refused(lab, layout, message):
    raw = _raw(lab)
    raw["input"]["layout"] = layout
    with pytest.raises(SpecError, match=message):
        parse_spec(raw)


def test_observation_shape_must_match_the_preprocessor_and_the_input():
    raw = _raw("lab3-pong")
    raw["environment"]["observation_shape"] = [80, 80, 1]
    with pytest.raises(SpecError, match="gives observations of shape"):
        parse_spec(raw)
    raw = _raw("lab3-pong")
    raw["environment"]["preprocess"] = "pong80"
    raw["environment"]["observation_shape"] = [80, 80, 1]
    with pytest.raises(SpecError, match="must be the \\[input\\] shape"):
        parse_spec(raw)
    raw["input"]["shape"] = [80, 80, 1]
    assert parse_spec(raw).environment.preprocess == "pong80"  # older editions: selectable


SHAPE_PROBE = """
import numpy as np
def predict(images):
    images = np.asarray(images)
    assert images.shape[1:] == {shape}, images.shape
    # The face bit is channel 0 of pixel (0, 0), wherever the channels are.
    return images[:, 0, 0, 0]
"""


def test_code_entries_get_nhwc_and_a_spec_can_give_them_nchw(
    graded, tmp_path, monkeypatch, synth_specs_dir, synth_hidden
):
    entry = synth.write_entry(tmp_path / "last", SHAPE_PROBE.format(shape=(64, 64, 3)))
    report = graded("lab2-debias", entry)
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["roc_auc"] == 1.0

    # The same data; this copy of the spec says channels first for code: [N, 3, 64, 64].
    specs = synth.write_specs(tmp_path / "specs", None)
    for src in synth_specs_dir.glob("*.toml"):
        (specs / src.name).write_text(src.read_text())
    path = specs / "lab2-debias.toml"
    layout = 'range = [0.0, 1.0]\nlayout = { code = "channels_first" }\n'
    path.write_text(path.read_text().replace("range = [0.0, 1.0]\n", layout, 1))
    entry = synth.write_entry(tmp_path / "first", SHAPE_PROBE.format(shape=(3, 64, 64)))
    monkeypatch.setenv("GRADER_SPECS_DIR", str(specs))
    from grader.pipeline import GradeRequest, grade

    report = grade(GradeRequest(lab_id="lab2-debias", entry_path=entry, hidden_dir=synth_hidden[0]))
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["roc_auc"] == 1.0


@pytest.mark.slow
def test_torch_entries_get_nchw_and_keras_nhwc(graded, tmp_path):
    import torch

    class Faces(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            # NCHW: channel 0 of pixel (0, 0) holds the face bit.
            torch._assert(x.shape[1] == 3, "expected NCHW")
            return x[:, 0, 0, 0]

    torch.jit.script(Faces()).save(str(tmp_path / "faces.pt"))
    report = graded("lab2-debias", tmp_path / "faces.pt")
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["roc_auc"] == 1.0


@pytest.mark.slow
def test_a_torch_policy_gets_nchw_observations(graded, tmp_path):
    import torch

    class Policy(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            torch._assert(x.shape == (1, 1, 40, 40), "expected one NCHW observation")
            return torch.zeros(1, 6)

    torch.jit.script(Policy()).save(str(tmp_path / "policy.pt"))
    report = graded("lab3-pong", tmp_path / "policy.pt")
    assert report.status == "scored", report.reason + report.logs[-2000:]
    assert report.metrics["episodes"] == 2
