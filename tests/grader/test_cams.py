"""Class activation maps: where they point (by hand), the maps the grader computes inside
the sandbox (against a NumPy recomputation from the model's own weights), the maps code
entries return (read like any output), and the sample images the pages show."""

from __future__ import annotations

import base64
import io
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from grader import cams
from grader.sandbox import Job, SandboxLimits, get_backend
from grader.specs import DEFAULT_LAYOUTS
from tests.grader import synth

LAB = "lab2-pneumothorax"

# ---------------------------------------------------------------------------- by hand


def test_pointing_game_and_mass_inside_on_hand_made_maps():
    masks = np.zeros((5, 4, 4), dtype=bool)
    masks[:, 0:2, 0:2] = True  # the top-left 2x2 of each 4x4 image
    maps = np.zeros((5, 4, 4))
    maps[0, 0, 0], maps[0, 3, 3] = 3.0, 1.0  # peak inside: 3 of 4 units inside
    maps[1, 0, 0], maps[1, 3, 3] = 2.0, 2.0  # the peak is shared with a pixel outside
    maps[2] = -1.0  # nowhere positive
    maps[3, 0:2, 0:2], maps[3, 2:, 2:] = 1.0, -7.0  # negatives clipped: all mass inside
    maps[4] = 0.5  # flat: every pixel is the peak
    assert cams.pointing_hits(maps, masks).tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    shares = cams.mass_inside(maps, masks)
    assert shares.tolist() == pytest.approx([0.75, 0.5, 0.0, 1.0, 0.25])


def test_localization_counts_only_positives_with_a_marked_region():
    y = np.array([1, 1, 0, 1])
    masks = np.zeros((4, 4, 4), dtype=np.uint8)
    masks[0, 0, 0] = masks[2, 0, 0] = masks[3, 3, 3] = 1  # row 1 unmarked, row 2 negative
    maps = np.zeros((4, 4, 4))
    maps[:, 0, 0] = 1.0  # every map points at the top-left pixel
    values, undefined, ci = cams.localization(maps, masks, y, "no maps", seed=1)
    assert undefined == {}
    assert values == {"pointing_game": 0.5, "cam_mass_inside": 0.5}  # rows 0 and 3
    low, high = ci["pointing_game"]
    assert 0 < low < 0.5 < high < 1  # Wilson: 1 of 2
    values, undefined, _ = cams.localization(None, masks, y, "no maps: why", seed=1)
    assert values == {} and set(undefined.values()) == {"no maps: why"}
    values, undefined, _ = cams.localization(maps, masks, np.zeros(4, int), "x", seed=1)
    assert values == {} and "no positive example has a marked region" in str(undefined)


# ---------------------------------------------------------------------------- code entries

MAPS_ENTRY = """
import numpy as np

def predict(x):
    return x[:, 0, 0, 0]

def cams(x):
    maps = np.zeros((len(x), 64, 64), np.float32)
    for k, image in enumerate(x):
        row = int(round(float(image[0, 1, 0]) * 100))
        m = maps[k]
        if row == 1:     # peak inside the region; 64 units outside, 2 inside
            m[40:48, 0:8] = 1
            m[10, 42] = 2
        elif row == 5:   # as much inside as outside, the peak shared: a miss
            m[8:16, 40:48] = 1
            m[40:48, 0:8] = 1
        elif row == 9:   # nowhere positive
            m[:] = -1
        else:            # inside only (negatives clipped)
            m[:] = -5
            m[8:16, 40:48] = 3
    return maps
"""
# Public positives are rows 1, 5, 9, 13; private positives 3, 7, 11, 15 (synth).
PUBLIC = {"hits": [1, 0, 0, 1], "shares": [Fraction(2, 66), Fraction(1, 2), 0, 1]}
PRIVATE = {"hits": [1, 1, 1, 1], "shares": [1, 1, 1, 1]}


def _mean(values) -> float:
    return float(sum(Fraction(v) for v in values) / len(values))


def test_a_code_entrys_maps_are_scored_per_split_as_computed_by_hand(graded, tmp_path):
    report = graded(LAB, synth.write_entry(tmp_path / "e", MAPS_ENTRY))
    assert report.status == "scored", report.reason + report.logs
    for split, expected in (("public", PUBLIC), ("private", PRIVATE)):
        got = report.split_metrics[split]
        assert got["roc_auc"] == 1.0
        assert got["pointing_game"] == _mean(expected["hits"])
        assert got["cam_mass_inside"] == pytest.approx(_mean(expected["shares"]), abs=1e-12)
        low, high = report.details["intervals"][split]["pointing_game"]
        assert low <= got["pointing_game"] <= high
    both = PUBLIC["hits"] + PRIVATE["hits"]
    assert report.metrics["pointing_game"] == _mean(both)
    assert report.metrics["cam_mass_inside"] == pytest.approx(
        _mean(PUBLIC["shares"] + PRIVATE["shares"]), abs=1e-12
    )
    assert report.details["cam"] == {"source": "entry", "note": ""}


@pytest.mark.parametrize(
    ("maps", "reason"),
    [
        ("np.full((len(x), 64, 64), np.nan, np.float32)", "NaN or infinite"),
        ("np.zeros((len(x), 32, 32), np.float32)", "shape [16, 64, 64]; got [16, 32, 32]"),
        ("np.zeros((len(x), 64, 64), np.float32)[:-1]", "shape [16, 64, 64]; got [15, 64, 64]"),
        ("np.full((len(x), 64, 64), 1e30, np.float32)", "values up to 1e+30"),
        ("np.full((len(x), 64, 64), -1e7, np.float32)", "at most 1,000,000"),
    ],
)
def test_maps_that_are_nan_the_wrong_shape_or_huge_are_invalid_output(
    graded, tmp_path, maps, reason
):
    source = "import numpy as np\ndef predict(x):\n    return x[:, 0, 0, 0]\n"
    source += f"def cams(x):\n    return {maps}\n"
    report = graded(LAB, synth.write_entry(tmp_path / "e", source))
    assert report.status == "invalid_output"
    assert reason in report.reason and "class activation map" in report.reason.lower()


def test_a_code_entry_without_maps_is_scored_and_the_page_says_why(graded, tmp_path):
    source = "def predict(x):\n    return x[:, 0, 0, 0]\n"
    report = graded(LAB, synth.write_entry(tmp_path / "e", source))
    assert report.status == "scored", report.reason
    assert report.metrics["roc_auc"] == 1.0
    assert "pointing_game" not in report.metrics
    why = report.details["undefined_metrics"]["pointing_game"]
    assert why == "no class activation maps: submission.py defines no cams(x)"
    assert report.details["cam"] == {"source": "", "note": why}
    # The samples are still shown (the X-ray and the probability), without a map.
    shown = report.details["cam_samples"]["public"]
    assert shown and all(s["heat"] == "" and s["xray"] for s in shown)


def _decode(b64: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))))


def test_samples_come_only_from_the_graded_split_and_show_the_map(graded, tmp_path):
    entry = synth.write_entry(tmp_path / "e", MAPS_ENTRY)
    report = graded(LAB, entry, splits=("public",))
    assert report.status == "scored", report.reason
    samples = report.details["cam_samples"]
    assert set(samples) == {"public"}  # never a private X-ray in a public run
    public_rows = {i for i in range(16) if [0, 0, 1, 1][i % 4] == 0}
    shown = samples["public"]
    # A perfect model: only correct cases, at most [cam] samples = 3 of them.
    assert 1 <= len(shown) <= 3 and all(s["correct"] for s in shown)
    for sample in shown:
        xray = _decode(sample["xray"])
        assert xray.shape == (64, 64)
        row = round(xray[0, 1] / 255 * 100)  # the row number the synth set wrote there
        assert row in public_rows and sample["label"] == row % 2
        assert sample["probability"] == float(row % 2)
        heat = _decode(sample["heat"])
        assert heat.shape == (64, 64, 4)
        if sample["label"] == 1:
            assert sample["marked"]
            # The region's border is drawn opaque white; the map's colour fades to clear at 0.
            assert tuple(heat[8, 44]) == cams.OUTLINE_RGBA
        else:
            assert not sample["marked"] and heat[..., 3].max() <= round(cams.OVERLAY_ALPHA * 255)


def test_the_sample_pool_is_the_same_for_every_entry_and_bounded():
    y = np.array([1, 0] * 20)
    marked = y == 1
    pool = cams.sample_pool(y, marked, seed=5)
    assert len(pool) == cams.POOL and (y[pool] == 1).sum() == cams.POOL // 2
    assert pool.tolist() == cams.sample_pool(y, marked, seed=5).tolist()
    scores = np.where(y == 1, 0.9, 0.2)
    scores[pool[:2]] = 1 - scores[pool[:2]]  # two confident mistakes
    picked = cams.pick_samples(pool, y, scores, 3)
    right = [row for row, ok in picked if ok]
    wrong = [row for row, ok in picked if not ok]
    assert len(right) == 3 and sorted(wrong) == sorted(pool[:2].tolist())
    assert {int(y[r]) for r in right} == {0, 1}  # the correct ones show both classes


# ---------------------------------------------------------------------------- model files


def run_harness(tmp_path: Path, kind: str, entry_dir: Path, main: str, images: np.ndarray):
    """The harness in the process sandbox, as the worker runs it for a [cam] lab: its
    outputs folder (probabilities.npy, cams.npy, harness.json)."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    np.save(inputs / "images.npy", images)
    out = tmp_path / "out"
    command = ("python", "-m", "harness", "batch", "--task", "classification")
    job = Job(
        command=(*command, "--kind", kind, "--main", main),
        mounts={"entry": entry_dir, "inputs": inputs},
        output_dir=out,
        limits=SandboxLimits(wall_time_s=180, memory_mb=3000, cpus=1),
        env={
            "GRADER_TASK": "classification",
            "GRADER_INPUT_LAYOUT": DEFAULT_LAYOUTS[kind],
            "GRADER_CAMS": "1",
            "GRADER_BATCH_SIZE": "3",  # several batches, joined
        },
    )
    run = get_backend("process").run(job)
    assert run.exit_code == 0, run.log[-3000:]
    return out


def conv_same(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """A 3x3 'same' convolution (cross-correlation) in NumPy: x [N, H, W, Cin], kernel
    [3, 3, Cin, Cout]."""
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros((*x.shape[:3], kernel.shape[3])) + bias
    for dy in range(3):
        for dx in range(3):
            out += np.einsum("nhwc,co->nhwo", padded[:, dy : dy + h, dx : dx + w], kernel[dy, dx])
    return out


def max_pool2(x: np.ndarray) -> np.ndarray:
    n, h, w, c = x.shape
    return x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def bilinear(maps: np.ndarray, size: int) -> np.ndarray:
    """An independent bilinear resize (PyTorch's, half-pixel centres) of [N, h, w] maps."""
    import torch

    t = torch.from_numpy(maps[:, None].astype(np.float64))
    up = torch.nn.functional.interpolate(t, size=(size, size), mode="bilinear", align_corners=False)
    return up[:, 0].numpy()


@pytest.mark.slow
@pytest.mark.parametrize("units", [1, 2])
def test_the_grader_computes_keras_cams_as_numpy_does_from_the_weights(tmp_path, units):
    import os

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    keras.utils.set_random_seed(units)
    inputs = keras.Input((16, 16, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.MaxPool2D(2)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dropout(0.3)(h)
    if units == 1:
        out = keras.layers.Dense(1, activation="sigmoid")(h)
    else:
        out = keras.layers.Softmax()(keras.layers.Dense(2)(h))
    model = keras.Model(inputs, out)
    entry = tmp_path / "entry"
    entry.mkdir()
    model.save(entry / "model.keras")
    images = np.random.default_rng(0).uniform(0, 1, (7, 16, 16, 1)).astype(np.float32)

    got = np.load(run_harness(tmp_path, "keras", entry, "model.keras", images) / "cams.npy")

    conv, dense = model.layers[1], model.layers[-2 if units == 2 else -1]
    kernel, bias = (np.asarray(v, np.float64) for v in conv.get_weights())
    features = max_pool2(np.maximum(conv_same(images.astype(np.float64), kernel, bias), 0))
    weights, dense_bias = (np.asarray(v, np.float64) for v in dense.get_weights())
    small = np.einsum("nhwk,k->nhw", features, weights[:, units - 1])
    assert got.shape == (7, 16, 16)
    np.testing.assert_allclose(got, bilinear(small, 16), rtol=1e-4, atol=1e-5)
    # The map's mean is the positive logit less the bias: the evidence the model summed.
    logits = features.mean(axis=(1, 2)) @ weights + dense_bias
    np.testing.assert_allclose(small.mean(axis=(1, 2)), logits[:, units - 1] - dense_bias[-1])


class _Features:
    """A TorchScript-able model in the course's shape: features, then a sigmoid."""

    @staticmethod
    def build(torch, scale: float):
        nn = torch.nn

        class Tiny(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.features = nn.Sequential(
                    nn.Conv2d(1, 4, 3, padding=1),
                    nn.ReLU(),
                    nn.MaxPool2d(2),
                    nn.AdaptiveAvgPool2d(1),
                    nn.Flatten(),
                    nn.Linear(4, 1),
                )
                self.scale = scale

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return torch.sigmoid(self.scale * self.features(x)).reshape(-1)

        return Tiny()


@pytest.mark.slow
def test_the_grader_computes_torchscript_cams_as_numpy_does_from_the_weights(tmp_path):
    import torch

    torch.manual_seed(0)
    model = _Features.build(torch, 1.0).eval()
    entry = tmp_path / "entry"
    entry.mkdir()
    torch.jit.script(model).save(str(entry / "model.pt"))
    images = np.random.default_rng(1).uniform(0, 1, (7, 16, 16, 1)).astype(np.float32)

    out = run_harness(tmp_path, "torch", entry, "model.pt", images)
    got = np.load(out / "cams.npy")

    conv, linear = model.features[0], model.features[5]
    kernel = conv.weight.detach().numpy().astype(np.float64).transpose(2, 3, 1, 0)  # OIHW->HWIO
    bias = conv.bias.detach().numpy().astype(np.float64)
    features = max_pool2(np.maximum(conv_same(images.astype(np.float64), kernel, bias), 0))
    weights = linear.weight.detach().numpy().astype(np.float64)[0]
    small = np.einsum("nhwk,k->nhw", features, weights)
    np.testing.assert_allclose(got, bilinear(small, 16), rtol=1e-4, atol=1e-5)
    probabilities = np.load(out / "probabilities.npy")
    logits = small.mean(axis=(1, 2)) + float(linear.bias.detach())
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_torchscript_layers_that_do_not_reproduce_the_output_give_no_maps(tmp_path):
    import json

    import torch

    torch.manual_seed(0)
    model = _Features.build(torch, 2.0).eval()  # sigmoid(2 z): not the Linear's own logit
    entry = tmp_path / "entry"
    entry.mkdir()
    torch.jit.script(model).save(str(entry / "model.pt"))
    images = np.random.default_rng(1).uniform(0, 1, (4, 16, 16, 1)).astype(np.float32)
    out = run_harness(tmp_path, "torch", entry, "model.pt", images)
    assert not (out / "cams.npy").exists()
    assert (out / "probabilities.npy").exists()  # still graded
    assert (
        "do not reproduce the model's output"
        in json.loads((out / "harness.json").read_text())["cam_note"]
    )


def test_upsampling_is_half_pixel_bilinear():
    import importlib.util

    spec = importlib.util.spec_from_file_location("hc", synth.REPO / "sandboxes/harness/cams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    upsample = module.upsample
    maps = np.random.default_rng(2).normal(size=(3, 5, 7))
    assert upsample(maps, 5, 7) == pytest.approx(maps)
    import torch

    t = torch.from_numpy(maps[:, None])
    expected = torch.nn.functional.interpolate(
        t, size=(12, 9), mode="bilinear", align_corners=False
    )
    np.testing.assert_allclose(upsample(maps, 12, 9), expected[:, 0].numpy(), atol=1e-12)
