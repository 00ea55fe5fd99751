"""`python -m harness stepwise`: a next-character model, stepped by the worker.

The worker holds the text. It starts a batch of rows (START: how many), then sends each row's
next character (CHARS, int32 [B]) and waits for the model's scores for the character after it
(SCORES, [B, V] logits or log-probabilities) before it sends the next one. The model never
holds a character it has not been scored on yet (grader/stepwise.py; frames:
grader/protocol.py).

Each kind of entry becomes a `Stepper`:
- code: `submission.py` with `step(chars) -> scores` and optionally `start(batch_size)`
  (called before each batch of rows); or a stateless `predict(tokens)`, re-run on the
  characters so far;
- Keras: a stateful model (the course's LSTM, `stateful=True`) is rebuilt from its config for
  the batch stepped (the course saves it at batch 16 for training and batch 1 for
  generation), weights copied, and fed one character per row at a time; its states are
  reset at each batch. Any other model is re-run on the characters so far;
- TorchScript: `forward(x, state) -> (logits, state)` is stepped with explicit state, starting
  from the module's `init_hidden(batch_size)` when it has one (`@torch.jit.export`), else
  from zeros shaped for its one `nn.LSTM`/`nn.GRU`/`nn.RNN`; `forward(x)` (and a torch.export
  `.pt2`) is re-run on the characters so far.
"""

from __future__ import annotations

import io
import os
import re
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from harness import protocol
from harness.loaders import (
    EntryFailed,
    EntryRefused,
    code_module,
    keras_model,
    keras_stateful_layers,
    to_numpy,
    torch_module,
)


class Stepper:
    """One batch of rows at a time: `start(batch_size)`, then `step(chars)` per position."""

    # The largest batch of rows this model can step (0: any); told to the worker in HELLO.
    max_batch = 0

    def start(self, batch_size: int) -> None:
        raise NotImplementedError

    def step(self, chars: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def last_scores(out: Any, batch: int) -> np.ndarray:
    """A model's answer for the last position: [B, V] from [B, V], [B, 1, V] or [B, t, V],
    in its own float type (float16, 32 or 64; anything else as float64). Any other shape goes
    to the worker as it is, which refuses it with the shape named."""
    arr = to_numpy(out, dtype=None)
    if arr.dtype.kind != "f":
        arr = to_numpy(arr, dtype=np.float64)
    if arr.ndim == 3 and arr.shape[0] == batch:
        return np.ascontiguousarray(arr[:, -1])
    return arr


class CodeStepper(Stepper):
    def __init__(self, step: Callable[[np.ndarray], Any], start: Callable[[int], Any] | None):
        self._step = step
        self._start = start
        self.batch = 0

    def start(self, batch_size: int) -> None:
        self.batch = batch_size
        if self._start is not None:
            self._start(batch_size)

    def step(self, chars: np.ndarray) -> np.ndarray:
        return last_scores(self._step(chars), self.batch)


class PrefixStepper(Stepper):
    """A stateless sequence model ([B, t] -> [B, t, V]), re-run on the characters so far."""

    def __init__(self, run: Callable[[np.ndarray], Any]) -> None:
        self._run = run
        self.prefix = np.zeros((0, 0), dtype=np.int64)

    def start(self, batch_size: int) -> None:
        self.prefix = np.zeros((batch_size, 0), dtype=np.int64)

    def step(self, chars: np.ndarray) -> np.ndarray:
        self.prefix = np.concatenate([self.prefix, chars[:, None]], axis=1)
        return last_scores(self._run(self.prefix), len(chars))


# ------------------------------------------------------------------------------------ Keras


def _with_batch(value: Any, batch: int) -> Any:
    """A shape ([b, ...], or a list of them) with its batch dimension set to `batch`."""
    if isinstance(value, list | tuple) and value and isinstance(value[0], list | tuple):
        return [_with_batch(v, batch) for v in value]
    if isinstance(value, list | tuple) and value:
        return [batch, *value[1:]]
    return value


def _set_batch(config: Any, batch: int) -> None:
    """Set the batch dimension of every input and build shape in a serialized Keras model."""
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("batch_shape", "input_shape", "build_input_shape"):
                config[key] = _with_batch(value, batch)
            else:
                _set_batch(value, batch)
    elif isinstance(config, list):
        for value in config:
            _set_batch(value, batch)


def keras_for_batch(model: Any, batch: int) -> Any:
    """The same model built for `batch` rows: its config with the batch dimension changed
    (safe mode, as it was loaded) and its weights copied."""
    import keras

    data = keras.saving.serialize_keras_object(model)
    _set_batch(data, batch)
    clone = keras.saving.deserialize_keras_object(data, safe_mode=True)
    clone.set_weights(model.get_weights())
    return clone


def _state_batch(layer: Any) -> int:
    states = layer.states if isinstance(layer.states, list | tuple) else [layer.states]
    return int(states[0].shape[0])


class KerasStateful(Stepper):
    """A stateful Keras model fed one character per row at a time."""

    def __init__(self, model: Any) -> None:
        self.fixed = _state_batch(keras_stateful_layers(model)[0])  # the batch it was built for
        self.models = {self.fixed: model}
        self.model = model
        try:
            keras_for_batch(model, 2)  # can it be rebuilt for another batch size?
        except Exception:  # noqa: BLE001 - it cannot: step the rows it can, padded
            traceback.print_exc()
            self.max_batch = self.fixed

    def start(self, batch_size: int) -> None:
        size = self.fixed if self.max_batch else batch_size
        if size not in self.models:
            self.models[size] = keras_for_batch(self.models[self.fixed], size)
        self.model = self.models[size]
        for layer in keras_stateful_layers(self.model):
            layer.reset_state()  # each batch of rows starts from a fresh state

    def step(self, chars: np.ndarray) -> np.ndarray:
        x = np.zeros((len(chars) if not self.max_batch else self.fixed, 1), dtype=np.int32)
        x[: len(chars), 0] = chars  # a model that cannot be rebuilt gets padded rows
        return last_scores(self.model.predict_on_batch(x)[: len(chars)], len(chars))


def keras_stepper(path: Path) -> Stepper:
    model = keras_model(path)
    if keras_stateful_layers(model):
        return KerasStateful(model)
    if path.is_dir():  # a SavedModel: its serving signature
        return PrefixStepper(lambda x: model(x.astype(np.int32)))
    # Called eagerly: predict_on_batch would compile anew for every prefix length.
    return PrefixStepper(lambda x: model(x.astype(np.int32), training=False))


# ------------------------------------------------------------------------------ PyTorch

_RNN_LAYERS = frozenset({"LSTM", "GRU", "RNN"})


def _zero_state(module: Any, batch: int) -> Any:
    """Zeros shaped for the module's one recurrent layer: [layers * directions, B, hidden],
    a pair (h, c) for an LSTM (what the course's `init_hidden` returns)."""
    import torch

    found = [
        (name, m)
        for name, m in module.named_modules()
        if getattr(m, "original_name", type(m).__name__) in _RNN_LAYERS
    ]
    if len(found) != 1:
        raise EntryFailed(
            "your TorchScript model's forward takes a state, but it has no init_hidden(batch_size) "
            f"method and {len(found)} recurrent layers (nn.LSTM, nn.GRU, nn.RNN), so the grader "
            "cannot make its first state: export init_hidden with @torch.jit.export"
        )
    _, rnn = found[0]
    params = dict(rnn.named_parameters())
    layers = sum(1 for n in params if re.fullmatch(r"weight_hh_l\d+", n))
    directions = 2 if "weight_hh_l0_reverse" in params else 1
    hidden = int(params["weight_hh_l0"].shape[1])
    out = int(params["weight_hr_l0"].shape[0]) if "weight_hr_l0" in params else hidden
    h = torch.zeros(layers * directions, batch, out)
    if getattr(rnn, "original_name", type(rnn).__name__) == "LSTM":
        return (h, torch.zeros(layers * directions, batch, hidden))
    return h


class TorchStateful(Stepper):
    """TorchScript `forward(x, state) -> (logits, state)`, x int64 [B, 1]."""

    def __init__(self, module: Any) -> None:
        self.module = module
        self.state: Any = None
        self.batch = 0

    def start(self, batch_size: int) -> None:
        import torch

        self.batch = batch_size
        init = getattr(self.module, "init_hidden", None)
        if init is None:
            self.state = _zero_state(self.module, batch_size)
            return
        try:
            self.state = init(batch_size)
        except RuntimeError:  # the course's init_hidden(batch_size, device)
            self.state = init(batch_size, torch.device("cpu"))

    def step(self, chars: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(chars, dtype=np.int64)[:, None])
        answer = self.module(x, self.state)
        if not isinstance(answer, tuple | list) or len(answer) != 2:
            raise EntryFailed(
                "your TorchScript model's forward(x, state) must return (logits, state)"
            )
        logits, self.state = answer
        return last_scores(logits, len(chars))


def _forward_arity(module: Any) -> int:
    """How many arguments forward takes besides self (1 where it cannot be told)."""
    schema = getattr(getattr(module, "forward", None), "schema", None)
    if schema is None:
        return 1
    return len(schema.arguments) - 1


def torch_stepper(path: Path) -> Stepper:
    import torch

    module = torch_module(path)

    def run(x: np.ndarray) -> Any:
        return module(torch.from_numpy(np.ascontiguousarray(x, dtype=np.int64)))

    if path.suffix != ".pt2" and _forward_arity(module) >= 2:
        return TorchStateful(module)
    return PrefixStepper(run)


# ---------------------------------------------------------------------------------- code


def code_stepper(path: Path) -> Stepper:
    module = code_module(path)
    step = getattr(module, "step", None)
    start = getattr(module, "start", None)
    if callable(step):
        return CodeStepper(step, start if callable(start) else None)
    predict = getattr(module, "predict", None)
    if callable(predict):
        return PrefixStepper(predict)
    raise EntryFailed(
        "submission.py must define step(chars) (and optionally start(batch_size)) for this lab"
    )


def load_stepper(kind: str, path: Path) -> Stepper:
    if kind == "code":
        return code_stepper(path)
    if kind == "keras":
        return keras_stepper(path)
    if kind == "torch":
        return torch_stepper(path)
    raise EntryFailed(f"unknown entry kind {kind!r}")


# ------------------------------------------------------------------------------ the loop


def _encode(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def run_stepwise(kind: str, main: str) -> int:
    # OpenMP threads that spin between steps burn the sandbox's CPU quota while the worker
    # scores an answer: they sleep instead (read once, when torch loads OpenMP).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    def start(stepper: Stepper, body: bytes) -> tuple[bytes, bytes]:
        size = np.load(io.BytesIO(body), allow_pickle=False)
        stepper.start(int(size.reshape(-1)[0]))
        return protocol.OK, b""

    def step(stepper: Stepper, body: bytes) -> tuple[bytes, bytes]:
        chars = np.load(io.BytesIO(body), allow_pickle=False).astype(np.int64)
        # The worker, not the harness, checks the scores' shape and values.
        return protocol.SCORES, _encode(stepper.step(chars))

    return protocol.serve(
        lambda: load_stepper(kind, Path(os.environ["SANDBOX_ENTRY"]) / main),
        lambda stepper: _encode(np.array([stepper.max_batch], dtype=np.int64)),
        {protocol.START: start, protocol.CHARS: step},
        "step",
        EntryRefused,
    )
