"""The models the course's Lab 1 notebooks save, stepped by the worker (small sizes).

TensorFlow edition: `build_model` makes an Embedding, an LSTM with `stateful=True` and a
Dense layer; it is trained at one batch size (the notebook's 8 to 32; 16 here) and rebuilt
at batch 1 to generate. PyTorch edition: `LSTMModel.forward(x, state=None,
return_state=False)` with `init_hidden(batch_size, device)`. Before, the batch-16 Keras file
failed ("Expected batch size: 16 - Received batch size: 1") and the batch-1 file was graded
one row at a time (issue 21).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from grader import metrics as M
from tests.grader import synth

pytestmark = pytest.mark.slow

V = synth.MUSIC_V
BUILD_KERAS = f"""
import sys
import numpy as np
import keras

out, tokens = sys.argv[1], np.load(sys.argv[2])
keras.utils.set_random_seed(0)


def build_model(batch_size, stateful=True):
    model = keras.Sequential([
        keras.layers.Embedding({V}, 8),
        keras.layers.LSTM(16, return_sequences=True, recurrent_initializer="glorot_uniform",
                          recurrent_activation="sigmoid", stateful=stateful),
        keras.layers.Dense({V}),
    ])
    model.build((batch_size, None))
    return model


training = build_model(16)
training.save(out + "/lstm_batch16.keras")
generation = build_model(1)
generation.set_weights(training.get_weights())
generation.save(out + "/lstm_batch1.keras")
stateless = build_model(None, stateful=False)
stateless.set_weights(training.get_weights())
stateless.save(out + "/lstm_stateless.keras")
np.save(out + "/logits.npy", stateless.predict(tokens, verbose=0))
"""


def scored_rows(synth_hidden) -> tuple[np.ndarray, np.ndarray]:
    folder = synth_hidden[0] / "lab1-music-v1"
    tokens = np.load(folder / "inputs" / "tokens.npy")
    with np.load(folder / "labels" / "labels.npz") as npz:
        real = npz["real"]
        return tokens[real], npz["targets"][real]


def expected_bits(logits: np.ndarray, targets: np.ndarray) -> float:
    """Bits per character as the grader counts them: a row's last position is not scored
    (grader.scoring.load_text_rows)."""
    bits = M.target_bits(logits, targets.astype(np.int64))
    return float(bits[..., :-1].mean())


@pytest.fixture(scope="module")
def keras_models(synth_hidden, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("keras")
    tokens, _ = scored_rows(synth_hidden)
    np.save(out / "tokens.npy", tokens)
    subprocess.run(
        [sys.executable, "-c", BUILD_KERAS, str(out), str(out / "tokens.npy")],
        check=True,
        capture_output=True,
        env={"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    return out


@pytest.mark.parametrize("name", ["lstm_batch16", "lstm_batch1", "lstm_stateless"])
def test_course_keras_lstm_grades_at_any_saved_batch_size(graded, synth_hidden, keras_models, name):
    _, targets = scored_rows(synth_hidden)
    want = expected_bits(np.load(keras_models / "logits.npy"), targets)
    report = graded("lab1-music", keras_models / f"{name}.keras")
    assert report.status == "scored", report.reason + report.logs[-3000:]
    assert report.metrics["bits_per_char"] == pytest.approx(want, rel=1e-5)


def test_a_stateful_keras_model_that_cannot_be_rebuilt_steps_the_rows_it_can(
    keras_models, monkeypatch
):
    """Rebuilt for the batch, or, when its config cannot be rebuilt, stepped at its own batch
    size (the worker is told so at HELLO) with the last batch padded: the same answers."""
    monkeypatch.syspath_prepend(str(synth.REPO / "sandboxes"))
    from harness import stepwise

    tokens = np.load(keras_models / "tokens.npy")

    def run(stepper) -> np.ndarray:
        stepper.start(len(tokens))
        return np.stack([stepper.step(tokens[:, t]) for t in range(tokens.shape[1])], 1)

    rebuilt = stepwise.keras_stepper(keras_models / "lstm_batch16.keras")
    assert rebuilt.max_batch == 0
    answers = [run(rebuilt)]

    def cannot(model, batch):
        raise ValueError("this config cannot be rebuilt")

    monkeypatch.setattr(stepwise, "keras_for_batch", cannot)
    fixed = stepwise.keras_stepper(keras_models / "lstm_batch16.keras")
    assert fixed.max_batch == 16
    answers.append(run(fixed))
    assert answers[0].shape == (len(tokens), tokens.shape[1], V)
    np.testing.assert_allclose(answers[0], answers[1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(answers[0], np.load(keras_models / "logits.npy"), atol=1e-5)


@pytest.fixture(scope="module")
def torch_models(tmp_path_factory) -> tuple[Path, object]:
    import torch
    from torch import nn

    class LSTMModel(nn.Module):  # the course's PyTorch notebook, as written
        def __init__(self, vocab_size, embedding_dim, hidden_size):
            super().__init__()
            self.hidden_size = hidden_size
            self.embedding = nn.Embedding(vocab_size, embedding_dim)
            self.lstm = nn.LSTM(embedding_dim, hidden_size, batch_first=True)
            self.fc = nn.Linear(hidden_size, vocab_size)

        def forward(self, x, state=None, return_state=False):
            x = self.embedding(x)
            if state is None:
                state = self.init_hidden(x.size(0), x.device)
            out, state = self.lstm(x, state)
            out = self.fc(out)
            return out if not return_state else (out, state)

        def init_hidden(self, batch_size, device):
            return (
                torch.zeros(1, batch_size, self.hidden_size).to(device),
                torch.zeros(1, batch_size, self.hidden_size).to(device),
            )

    class Stepped(nn.Module):
        """The documented convention: forward(x, state) -> (logits, state)."""

        def __init__(self, model: LSTMModel) -> None:
            super().__init__()
            self.model = model

        def forward(self, x, state: tuple[torch.Tensor, torch.Tensor]):
            return self.model(x, state, return_state=True)

    class Scripted(nn.Module):
        """A scripted model with its own init_hidden, exported."""

        def __init__(self, model: LSTMModel) -> None:
            super().__init__()
            self.embedding, self.lstm, self.fc = model.embedding, model.lstm, model.fc
            self.hidden_size = model.hidden_size

        def forward(
            self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor]
        ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
            out, state = self.lstm(self.embedding(x), state)
            return self.fc(out), state

        @torch.jit.export
        def init_hidden(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
            zeros = torch.zeros(1, batch_size, self.hidden_size)
            return zeros, zeros

    torch.manual_seed(0)
    model = LSTMModel(V, 8, 16).eval()
    out = tmp_path_factory.mktemp("torch")
    x = torch.zeros(2, 1, dtype=torch.long)
    torch.jit.trace(Stepped(model), (x, model.init_hidden(2, "cpu"))).save(str(out / "traced.pt"))
    torch.jit.script(Scripted(model)).save(str(out / "scripted.pt"))
    torch.jit.trace(model, (torch.zeros(2, 5, dtype=torch.long),)).save(str(out / "stateless.pt"))
    return out, model


@pytest.mark.parametrize("name", ["traced", "scripted", "stateless"])
def test_course_torch_lstm_grades_with_explicit_state_or_on_the_prefix(
    graded, synth_hidden, torch_models, name
):
    import torch

    folder, model = torch_models
    tokens, targets = scored_rows(synth_hidden)
    with torch.no_grad():
        logits = model(torch.from_numpy(tokens.astype(np.int64))).numpy()
    report = graded("lab1-music", folder / f"{name}.pt")
    assert report.status == "scored", report.reason + report.logs[-3000:]
    assert report.metrics["bits_per_char"] == pytest.approx(
        expected_bits(logits, targets), rel=1e-5
    )
