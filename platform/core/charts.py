"""Figures from the grader's report as plain numbers for server-rendered inline SVG and
images: no JavaScript charting library, and nothing from the report reaches the page
unescaped. The entry page (submissions) and the judges' page (judging) both draw them, so
they live below both (templates: templates/charts/)."""

import base64
import binascii
import re

from grader.cams import COLOUR_STOPS, OVERLAY_ALPHA

WIDTH, HEIGHT = 360, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _y(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return round(TOP + PLOT_H * (1 - (value - low) / span), 2)


def _x(value: float, low: float, high: float) -> float:
    span = (high - low) or 1.0
    return round(LEFT + PLOT_W * (value - low) / span, 2)


def split_part(data, split: str):
    """One split's part of a report's per-split chart data ({"public": ..., "private": ...}).
    Runs graded before the charts were split have whole-set data: no chart rather than one
    that mixes the private split in."""
    return data.get(split) if isinstance(data, dict) else None


def group_accuracy_chart(groups) -> dict | None:
    """Bars of the per-group accuracies (%), e.g. {"LF": 90.0, "DM": 75.0}."""
    if not isinstance(groups, dict):
        return None
    items = [(str(k)[:8], _number(v)) for k, v in groups.items()][:8]
    if not any(v is not None for _, v in items):
        return None
    slot = PLOT_W / len(items)
    bars = []
    for i, (label, value) in enumerate(items):
        height = 0.0 if value is None else PLOT_H * max(0.0, min(value, 100.0)) / 100
        x = LEFT + i * slot + slot * 0.2
        bars.append(
            {
                "label": label,
                "value": value,
                "x": round(x, 2),
                "y": round(TOP + PLOT_H - height, 2),
                "w": round(slot * 0.6, 2),
                "h": round(height, 2),
                "cx": round(x + slot * 0.3, 2),
            }
        )
    return {"bars": bars, **_frame([0, 50, 100], 0, 100)}


def roc_chart(curve) -> dict | None:
    if not isinstance(curve, dict):
        return None
    fpr, tpr = curve.get("fpr"), curve.get("tpr")
    if not (isinstance(fpr, list) and isinstance(tpr, list)) or len(fpr) != len(tpr) or not fpr:
        return None
    points = []
    for a, b in zip(fpr[:500], tpr[:500], strict=False):
        x, y = _number(a), _number(b)
        if x is not None and y is not None:
            points.append((x, y))
    if not points:
        return None
    path = " ".join(
        f"{'M' if i == 0 else 'L'}{_x(a, 0, 1)},{_y(b, 0, 1)}" for i, (a, b) in enumerate(points)
    )
    diagonal = f"M{_x(0, 0, 1)},{_y(0, 0, 1)} L{_x(1, 0, 1)},{_y(1, 0, 1)}"
    return {"path": path, "diagonal": diagonal, **_frame([0, 0.5, 1], 0, 1)}


def return_chart(returns) -> dict | None:
    """The return of each episode, in order, as a line with a dot per episode."""
    if not isinstance(returns, list):
        return None
    values = [v for v in (_number(r) for r in returns[:2000]) if v is not None]
    if not values:
        return None
    low, high = min(0.0, min(values)), max(values)
    high = high if high > low else low + 1
    last = max(len(values) - 1, 1)
    dots = [{"x": _x(i, 0, last), "y": _y(v, low, high), "value": v} for i, v in enumerate(values)]
    path = " ".join(f"{'M' if i == 0 else 'L'}{d['x']},{d['y']}" for i, d in enumerate(dots))
    mean = sum(values) / len(values)
    return {
        "path": path,
        "dots": dots if len(dots) <= 200 else [],
        "mean_y": _y(mean, low, high),
        "mean": mean,
        "episodes": len(values),
        **_frame([low, (low + high) / 2, high], low, high),
    }


def _frame(ticks: list[float], low: float, high: float) -> dict:
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "center": LEFT + PLOT_W // 2,
        "top": TOP,
        "bottom": TOP + PLOT_H,
        "ticks": [{"y": _y(t, low, high), "label": f"{t:g}"} for t in ticks],
    }


# ---------------------------------------------------------------------- class activation maps

_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
MAX_IMAGE_B64 = 300_000  # a thumbnail the worker wrote is a few kB
MAX_SAMPLES = 16


def _png_b64(value) -> str:
    """The value when it is base64 of a PNG of sane size, else "" (shown as nothing)."""
    if not isinstance(value, str) or len(value) > MAX_IMAGE_B64 or not _BASE64.fullmatch(value):
        return ""
    try:
        head = base64.b64decode(value[:16], validate=True)
    except (binascii.Error, ValueError):
        return ""
    return value if head.startswith(_PNG_MAGIC) else ""


def roc_classes(spec) -> str:
    """What a binary lab's ROC curve separates, in words: its [cam] labels, else the task's
    own (the face detector: faces against non-faces)."""
    if spec.cam is not None:
        return f"{spec.cam.positive} vs {spec.cam.labels[0]}"
    return "faces vs non-faces" if "mean_group_auc" in spec.metric_names else "positive vs negative"


def cam_legend() -> dict:
    """The maps' colour scale as a CSS gradient (numbers only), from the grader's stops."""
    stops = ", ".join(
        f"rgba({r}, {g}, {b}, {OVERLAY_ALPHA * at:.2f}) {100 * at:g}%"
        for at, (r, g, b) in COLOUR_STOPS
    )
    return {"gradient": f"linear-gradient(to right, {stops})"}


def cam_gallery(samples, labels: tuple[str, str], info=None) -> dict | None:
    """The sample images of one split with their maps (grader/cams.py render_samples), as
    the pages show them: correct and misclassified apart, each with the model's probability
    and the truth in the lab's words. None when there is nothing to show."""
    if not isinstance(samples, list):
        return None
    cards = []
    for sample in samples[:MAX_SAMPLES]:
        if not isinstance(sample, dict) or not (xray := _png_b64(sample.get("xray"))):
            continue
        label = 1 if sample.get("label") == 1 else 0
        cards.append(
            {
                "xray": xray,
                "heat": _png_b64(sample.get("heat")),
                "probability": _number(sample.get("probability")),
                "truth": labels[label],
                "marked": sample.get("marked") is True,
                "evidence": sample.get("evidence") is not False,
                "correct": sample.get("correct") is True,
            }
        )
    if not cards:
        return None
    info = info if isinstance(info, dict) else {}
    source = info.get("source")
    note = info.get("note")
    return {
        "columns": [
            ("Correct", [c for c in cards if c["correct"]], "correct"),
            ("Misclassified", [c for c in cards if not c["correct"]], "wrong"),
        ],
        "has_maps": any(c["heat"] for c in cards),
        "source": source if source in ("grader", "entry") else "",
        "note": note[:400] if isinstance(note, str) else "",
        "positive": labels[1],
        "negative": labels[0],
        **cam_legend(),
    }
