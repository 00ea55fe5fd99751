"""Loading an entry of each kind into one callable shape.

TensorFlow and torch are imported only when the entry needs them: importing TensorFlow alone
costs seconds, which is most of the time an entry takes to grade.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from harness.cams import CamFn, CamUnavailable, keras_cam, torch_cam


class EntryRefused(Exception):
    """The entry is refused for safety (it is never run); the message is for the student."""


class EntryFailed(Exception):
    """The entry could not be loaded or run; the message is for the student."""


def to_numpy(value: Any, dtype: Any = np.float32) -> np.ndarray:
    """The entry's answer as an array of `dtype` (None: the numbers' own type)."""
    if isinstance(value, dict) and len(value) == 1:
        value = next(iter(value.values()))
    if isinstance(value, list | tuple) and len(value) == 1:
        value = value[0]
    if hasattr(value, "detach"):
        value = value.detach().cpu()
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        return np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise EntryFailed(f"the entry returned something that is not numbers: {exc}") from exc


CHANNELS_FIRST = "channels_first"


def channels_first(images: np.ndarray, batched: bool) -> np.ndarray:
    """[N, H, W, C] -> [N, C, H, W] (or [H, W, C] -> [C, H, W] for one observation), for
    any image shape; contiguous, as the frameworks want it."""
    return np.ascontiguousarray(np.moveaxis(images, -1, 1 if batched else 0))


class Entry:
    """A loaded entry: `predict(batch)` for batch tasks, `act`/`reset` for interactive ones.

    Inputs come as the hidden set holds them ([N, H, W, C] images); `layout` says how this
    entry receives them: "channels_first" transposes every image to [C, H, W] (the lab
    spec's [input.layout] for the entry's kind, passed by the worker)."""

    def __init__(
        self,
        predict: Callable[[np.ndarray], Any] | None,
        act: Callable[[np.ndarray], Any] | None = None,
        reset: Callable[[], Any] | None = None,
        after_batch: Callable[[], None] | None = None,
        layout: str = "channels_last",
        cams: CamFn | None = None,
        cam_note: str = "",
        cams_are_entrys: bool = False,
    ) -> None:
        self._predict = predict
        self._act = act
        self._reset = reset
        self._after_batch = after_batch
        self.layout = layout
        # Class activation maps: the grader's (model files) or the entry's own (code).
        self._cams = cams
        self.cam_note = cam_note  # why there are none, for the lab page
        self._cams_are_entrys = cams_are_entrys

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.predict_with_cams(batch, want_cams=False)[0]

    def predict_with_cams(
        self, batch: np.ndarray, want_cams: bool = True
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The outputs of a batch of [N, H, W, C] images and, when wanted and possible, one
        class activation map per image ([N, H, W]); None once maps cannot be had."""
        if self._predict is None:
            raise EntryFailed("submission.py must define predict(inputs) for this lab")
        height, width = (batch.shape[1], batch.shape[2]) if batch.ndim == 4 else (0, 0)
        if self.layout == CHANNELS_FIRST and batch.ndim == 4:
            batch = channels_first(batch, batched=True)
        maps = None
        if want_cams and self._cams is not None and batch.ndim == 4:
            raw, maps = self._cam_batch(batch, height, width)
        else:
            raw = self._predict(batch)
        out = to_numpy(raw)
        if self._after_batch is not None:
            self._after_batch()
        return out, None if maps is None else to_numpy(maps)

    def _cam_batch(self, batch: np.ndarray, height: int, width: int) -> tuple[Any, Any]:
        assert self._cams is not None
        if self._cams_are_entrys:
            return self._cams(batch, height, width)  # the entry's own code: its failures count
        try:
            raw, maps = self._cams(batch, height, width)
        except Exception as exc:  # noqa: BLE001 - the grader's maps fail; predictions need not
            self.stop_cams(f"the grader could not compute them ({type(exc).__name__}: {exc})")
            return self._predict(batch) if self._predict else None, None
        if maps is None:
            self.stop_cams(
                "the layers the grader found do not reproduce the model's output (the maps "
                "would not be the model's)"
            )
        return raw, maps

    def stop_cams(self, note: str) -> None:
        self._cams = None
        self.cam_note = note[:300]

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self._act is not None:
            if self.layout == CHANNELS_FIRST and obs.ndim == 3:
                obs = channels_first(obs, batched=False)
            return to_numpy(self._act(obs))
        # A model file answers scores for a batch of one: the highest score is the action.
        return to_numpy(self.predict(obs[None, ...]))

    def reset(self) -> None:
        if self._reset is not None:
            self._reset()
        elif self._after_batch is not None:
            self._after_batch()


def load_entry(kind: str, path: Path, task: str, layout: str = "channels_last") -> Entry:
    if kind == "code":
        entry = _load_code(path, task)
    elif kind == "keras":
        entry = _load_keras(path)
    elif kind == "torch":
        entry = _load_torch(path)
    else:
        raise EntryFailed(f"unknown entry kind {kind!r}")
    entry.layout = layout
    return entry


def code_module(path: Path) -> ModuleType:
    """The entry's submission.py, imported (its folder first on sys.path)."""
    entry_dir = str(path.parent)
    sys.path.insert(0, entry_dir)
    spec = importlib.util.spec_from_file_location("submission", path)
    if spec is None or spec.loader is None:
        raise EntryFailed("cannot import submission.py")
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules["submission"] = module
    spec.loader.exec_module(module)
    return module


def _load_code(path: Path, task: str) -> Entry:
    module = code_module(path)
    predict = getattr(module, "predict", None)
    act = getattr(module, "act", None)
    reset = getattr(module, "reset", None)
    own_cams = getattr(module, "cams", None)
    if task == "interactive" and not callable(act):
        raise EntryFailed("submission.py must define act(observation) for this lab")
    if task != "interactive" and not callable(predict):
        raise EntryFailed("submission.py must define predict(inputs) for this lab")
    cams: CamFn | None = None
    if callable(predict) and callable(own_cams):

        def cams(x: np.ndarray, height: int, width: int) -> tuple[Any, Any]:
            # The entry's maps as it returns them: the worker checks their shape.
            return predict(x), own_cams(x)

    return Entry(
        predict,
        act if callable(act) else None,
        reset if callable(reset) else None,
        cams=cams,
        cam_note="" if cams else "submission.py defines no cams(x)",
        cams_are_entrys=True,
    )


def keras_model(path: Path) -> Any:
    """A Keras model file loaded in safe mode, or a SavedModel folder as a TFSMLayer."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    if path.is_dir():
        # A SavedModel runs TensorFlow graph ops only (no Python), through its signature.
        try:
            return keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")
        except Exception as exc:  # noqa: BLE001 - any loading failure is the entry's
            raise EntryFailed(f"cannot load the SavedModel: {exc}") from exc
    # The course's notebooks write activation=tf.nn.softmax; Keras saves TensorFlow's
    # function under its own name ("softmax_v2"), which Keras 3 cannot find again. They are
    # Keras's own activations under another name: no code of the entry's runs.
    aliases = {
        "softmax_v2": keras.activations.softmax,
        "log_softmax_v2": keras.activations.log_softmax,
    }
    try:
        model = keras.saving.load_model(
            str(path), safe_mode=True, compile=False, custom_objects=aliases
        )
    except Exception as exc:  # noqa: BLE001
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text:
            raise EntryRefused(
                "your Keras model contains a Lambda layer (arbitrary Python code), which the "
                "grader refuses to load for safety. Replace it with built-in layers, or upload "
                "code (submission.py) that builds the model and loads its weights."
            ) from exc
        raise EntryFailed(f"cannot load the Keras model: {text}") from exc
    return model


def keras_stateful_layers(model: Any) -> list[Any]:
    """The model's stateful layers (RNNs built with stateful=True), nested ones included."""
    flatten = getattr(model, "_flatten_layers", None)
    if flatten is None:  # a SavedModel's TFSMLayer: no Keras layers inside
        return []
    return [layer for layer in flatten() if getattr(layer, "stateful", False)]


def _load_keras(path: Path) -> Entry:
    model = keras_model(path)
    if path.is_dir():
        return Entry(
            lambda x: model(x),
            cam_note="a SavedModel folder shows no layers (save it with model.save('model.keras'))",
        )
    import keras

    stateful = keras_stateful_layers(model)

    def reset_states() -> None:
        # Stateful RNNs would carry one row's state into the next batch.
        for layer in stateful:
            layer.reset_state()

    cams: CamFn | None = None
    note = ""
    try:
        cams = keras_cam(keras, model)
    except CamUnavailable as exc:
        note = str(exc)
    return Entry(
        lambda x: model.predict_on_batch(x),
        after_batch=reset_states if stateful else None,
        cams=cams,
        cam_note=note,
    )


def torch_module(path: Path) -> Any:
    """A torch.export archive (.pt2) as its module, or a TorchScript model, in eval mode."""
    import torch

    torch.set_grad_enabled(False)
    try:
        if path.suffix == ".pt2":
            module = torch.export.load(str(path)).module()
        else:
            # torch.jit.load carries no annotations in the installed torch.
            module = torch.jit.load(str(path), map_location="cpu")  # type: ignore[no-untyped-call]
            module.eval()
    except Exception as exc:  # noqa: BLE001
        raise EntryFailed(f"cannot load the PyTorch model: {exc}") from exc
    return module


def _load_torch(path: Path) -> Entry:
    import torch

    module = torch_module(path)

    def predict(x: np.ndarray) -> Any:
        return module(torch.from_numpy(np.ascontiguousarray(x)))

    cams: CamFn | None = None
    note = ""
    if path.suffix == ".pt2":
        note = "a torch.export archive shows no layers (save with torch.jit to a .pt)"
    else:
        try:
            cams = torch_cam(torch, module)
        except CamUnavailable as exc:
            note = str(exc)
        except Exception as exc:  # noqa: BLE001 - an unusual module: no maps, still graded
            note = f"its layers cannot be read ({type(exc).__name__})"
    return Entry(predict, cams=cams, cam_note=note)
