"""Class activation maps (Zhou et al., 2016) of model files, computed inside the sandbox.

For a network whose last convolutional maps F_k ([h, w] each) are averaged over space
(global average pooling) and fed to a dense layer, the map of the positive class is
sum_k w_k F_k, with w_k that layer's weight of channel k for the positive class (its one
output unit, or unit 1 of two), upsampled to the image by bilinear interpolation. The
mean of the map plus the dense bias is the positive class's logit: the map shows where
that evidence lies.

Keras: a model whose output is a Dense layer (then at most Activation or Softmax layers)
fed by GlobalAveragePooling2D (with Dropout between them, or nothing). The maps and the
predictions come from one pass of the same graph.

TorchScript: a module holding an nn.Sequential whose children end in
AdaptiveAvgPool2d, then Flatten/Dropout/Identity, then Linear, then optionally
Sigmoid/Softmax/Identity. That Sequential's layers before the pool are run on the input;
the maps are used only if the pooled features through the Linear layer reproduce the
model's own output (its logit, sigmoid or softmax), batch by batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

# (a batch as the model takes it, the image's height and width) -> (the model's output,
# the maps [N, height, width], or None when this batch's maps cannot be trusted)
CamFn = Callable[[np.ndarray, int, int], tuple[Any, np.ndarray | None]]


class CamUnavailable(Exception):
    """The model's structure gives no class activation map; the message says why."""


def _taps(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bilinear taps along one axis with half-pixel centres, clamped at the edges (what
    tf.image.resize and OpenCV's INTER_LINEAR do)."""
    centre = np.clip((np.arange(dst) + 0.5) * (src / dst) - 0.5, 0.0, src - 1.0)
    low = np.floor(centre).astype(np.int64)
    high = np.minimum(low + 1, src - 1)
    return low, high, centre - low


def upsample(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """[N, h, w] maps resized to [N, height, width] by bilinear interpolation."""
    y0, y1, wy = _taps(maps.shape[1], height)
    x0, x1, wx = _taps(maps.shape[2], width)
    rows = maps[:, y0, :] * (1 - wy)[None, :, None] + maps[:, y1, :] * wy[None, :, None]
    out: np.ndarray = rows[:, :, x0] * (1 - wx) + rows[:, :, x1] * wx
    return out


def weighted_maps(features: np.ndarray, weights: np.ndarray, channels_last: bool) -> np.ndarray:
    """sum_k w_k F_k for each example: [N, h, w]."""
    spec = "nhwk,k->nhw" if channels_last else "nkhw,k->nhw"
    out: np.ndarray = np.einsum(spec, features.astype(np.float64), weights.astype(np.float64))
    return out


def positive_unit(kernel: np.ndarray) -> np.ndarray:
    """The weights of the positive class in a dense kernel [K, units] (1 or 2 units)."""
    units = kernel.shape[1]
    if units not in (1, 2):
        raise CamUnavailable(f"the last dense layer has {units} outputs, not 1 or 2")
    return kernel[:, units - 1]


# ------------------------------------------------------------------------------ Keras


def keras_cam(keras: Any, model: Any) -> CamFn:
    """The CAM function of a loaded Keras model; CamUnavailable when its structure has none."""
    layers = keras.layers
    outputs = getattr(model, "outputs", None) or []
    inputs = getattr(model, "inputs", None) or []
    if len(outputs) != 1 or len(inputs) != 1:
        raise CamUnavailable("the model must have one input and one output")

    def producer(tensor: Any) -> Any:
        history = getattr(tensor, "_keras_history", None)
        if history is None:
            raise CamUnavailable("the model's layers cannot be traced")
        return history[0]

    try:
        op = producer(outputs[0])
        while isinstance(op, layers.Activation | layers.Softmax):
            op = producer(op.input)
        if not isinstance(op, layers.Dense):
            raise CamUnavailable(f"its output comes from {type(op).__name__}, not a Dense layer")
        dense = op
        op = producer(dense.input)
        while isinstance(op, layers.Dropout):
            op = producer(op.input)
        if not isinstance(op, layers.GlobalAveragePooling2D) or op.keepdims:
            raise CamUnavailable(
                f"its Dense layer is fed by {type(op).__name__}, not GlobalAveragePooling2D"
            )
        features = op.input
        channels_last = op.data_format == "channels_last"
        weights = positive_unit(np.asarray(keras.ops.convert_to_numpy(dense.kernel)))
        both = keras.Model(inputs, [features, outputs[0]])
    except CamUnavailable:
        raise
    except Exception as exc:  # noqa: BLE001 - a layer used twice, an unusual graph...
        raise CamUnavailable(f"its layers cannot be read ({type(exc).__name__})") from exc

    def cam(x: np.ndarray, height: int, width: int) -> tuple[Any, np.ndarray | None]:
        feats, out = both.predict_on_batch(x)
        maps = weighted_maps(np.asarray(feats), weights, channels_last)
        return out, upsample(maps, height, width)

    return cam


# ------------------------------------------------------------------------------ TorchScript

POOL = "AdaptiveAvgPool2d"
BETWEEN = ("Flatten", "Dropout", "Identity")
AFTER = ("Sigmoid", "Softmax", "Identity")


def _name(module: Any) -> str:
    return str(getattr(module, "original_name", type(module).__name__))


def _cam_layers(module: Any) -> tuple[list[Any], Any] | None:
    """(the layers before the pool, the Linear layer) of the last nn.Sequential that ends in
    the CAM pattern, or None."""
    found = None
    for _, sub in module.named_modules():
        if _name(sub) != "Sequential":
            continue
        children = list(sub.children())
        names = [_name(c) for c in children]
        end = len(names)
        while end > 0 and names[end - 1] in AFTER:
            end -= 1
        if end < 3 or names[end - 1] != "Linear":
            continue
        pool = end - 2
        while pool > 0 and names[pool] in BETWEEN:
            pool -= 1
        if names[pool] == POOL and pool > 0:
            found = (children[:pool], children[end - 1])
    return found


def torch_cam(torch: Any, module: Any) -> CamFn:
    """The CAM function of a TorchScript module; CamUnavailable when its structure shows none.
    Each batch's maps are returned only if they reproduce the module's output."""
    found = _cam_layers(module)
    if found is None:
        raise CamUnavailable(
            "no nn.Sequential ending in AdaptiveAvgPool2d(1), Flatten and Linear was found"
        )
    before, linear = found
    kernel = linear.weight.detach().cpu().numpy().T
    bias = linear.bias.detach().cpu().numpy() if linear.bias is not None else 0.0
    weights = positive_unit(kernel)

    def cam(x: np.ndarray, height: int, width: int) -> tuple[Any, np.ndarray | None]:
        inputs = torch.from_numpy(np.ascontiguousarray(x))
        out = module(inputs)
        feats = inputs
        for layer in before:
            feats = layer(feats)
        if not hasattr(out, "detach") or not hasattr(feats, "detach"):
            return out, None
        f = feats.detach().cpu().numpy()
        if f.ndim != 4 or f.shape[1] != len(weights):
            return out, None
        logits = f.astype(np.float64).mean(axis=(2, 3)) @ kernel.astype(np.float64) + bias
        if not reproduces(np.asarray(out.detach().cpu().numpy(), np.float64), logits):
            return out, None
        return out, upsample(weighted_maps(f, weights, channels_last=False), height, width)

    return cam


def reproduces(out: np.ndarray, logits: np.ndarray) -> bool:
    """Whether the model's output is the logits, their sigmoid or their softmax."""
    z = np.clip(logits, -500, 500)
    exp = np.exp(z - z.max(axis=1, keepdims=True))
    for candidate in (z, 1 / (1 + np.exp(-z)), exp / exp.sum(axis=1, keepdims=True)):
        if candidate.size == out.size and np.allclose(
            out.reshape(candidate.shape), candidate, rtol=1e-3, atol=1e-4
        ):
            return True
    return False
