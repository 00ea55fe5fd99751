"""Model-file entries: Keras 3 (safe_mode) and PyTorch (TorchScript, torch.export).

These start TensorFlow or torch inside the sandbox, which costs seconds each.
"""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

BUILD_KERAS = """
import json, sys
import numpy as np
import keras
out, images = sys.argv[1], np.load(sys.argv[2])
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
model.save(out + "/model.keras")
pred = model.predict(images, verbose=0).argmax(1)
json.dump({"pred": pred.tolist()}, open(out + "/expected.json", "w"))
inp = keras.Input((28, 28, 1))
lam = keras.Model(inp, keras.layers.Lambda(lambda x: keras.ops.mean(x, axis=(1, 2)) * 0)(inp))
lam.save(out + "/lambda.keras")
"""


@pytest.mark.slow
def test_keras_model_is_scored_and_lambda_layer_refused(graded, synth_hidden, tmp_path):
    hidden = synth_hidden[0]
    images = hidden / "lab2-mnist-v1/inputs/images.npy"
    subprocess.run(
        [sys.executable, "-c", BUILD_KERAS, str(tmp_path), str(images)],
        check=True,
        capture_output=True,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    expected = np.array(json.loads((tmp_path / "expected.json").read_text())["pred"])
    with np.load(hidden / "lab2-mnist-v1/labels/labels.npz") as npz:
        y = npz["y"]
    report = graded("lab2-mnist", tmp_path / "model.keras")
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["accuracy"] == pytest.approx(float((expected == y).mean()))
    report = graded("lab2-mnist", tmp_path / "lambda.keras")
    assert report.status == "rejected"
    assert "Lambda layer" in report.reason and report.metrics == {}


@pytest.mark.slow
def test_torchscript_and_torch_export_entries(graded, synth_hidden, tmp_path):
    import torch

    class Net(torch.nn.Module):
        def forward(self, x):
            # one-hot of the label hidden in pixel (0, 0): a perfect digit classifier
            idx = torch.round(x[:, 0, 0, 0] * 10).long()
            return torch.nn.functional.one_hot(idx, 10).float()

    torch.jit.script(Net()).save(str(tmp_path / "net.pt"))
    report = graded("lab2-mnist", tmp_path / "net.pt")
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["accuracy"] == 1.0

    # A static batch of 1 (NCHW, as PyTorch entries receive images): the harness falls back
    # to one example at a time.
    program = torch.export.export(Net(), (torch.zeros(1, 1, 28, 28),))
    torch.export.save(program, str(tmp_path / "net.pt2"))
    report = graded("lab2-mnist", tmp_path / "net.pt2")
    assert report.status == "scored", report.reason + report.logs
    assert report.metrics["accuracy"] == 1.0


def test_no_grader_module_imports_django():
    code = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import grader
        for mod in pkgutil.walk_packages(grader.__path__, "grader."):
            if mod.name != "grader.__main__":
                importlib.import_module(mod.name)
        assert len([m for m in sys.modules if m.startswith("grader.")]) > 10
        bad = [m for m in sys.modules if m == "django" or m.startswith("django.")]
        print("BAD" if bad else "OK", bad)
        """
    )
    from tests.grader.synth import REPO

    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert proc.stdout.startswith("OK"), proc.stdout + proc.stderr
