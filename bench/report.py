"""Figures: one printed line each, with the target beside it, and the whole set as JSON.

A line reads `FIGURE <key> = <value> <unit>  target <target>  [met|MISSED|info]`, or
`FIGURE <key> = not available: <why>` / `not measured: <why>`, so a test (and a person) can
find every figure with one regular expression.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

FIGURE_LINE = r"^FIGURE (?P<key>\S+) = (?P<value>\S+)"


@dataclass
class Figure:
    key: str
    value: float | None
    unit: str = ""
    target: str = ""  # e.g. "< 1.0"; empty when the figure is for information only
    missing: str = ""  # "not available: ..." when the figure could not be measured

    @property
    def verdict(self) -> str:
        if self.value is None or not self.target:
            return "info"
        op, _, bound = self.target.partition(" ")
        limit = float(bound)
        ok = {"<": self.value < limit, "<=": self.value <= limit, "==": self.value == limit}[op]
        return "met" if ok else "MISSED"

    def line(self) -> str:
        if self.value is None:
            return f"FIGURE {self.key} = {self.missing}"
        text = f"FIGURE {self.key} = {_fmt(self.value)} {self.unit}".rstrip()
        if self.target:
            text += f"  target {self.target} {self.unit}".rstrip() + f"  [{self.verdict}]"
        return text


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) < 1e9:
        return str(int(value))
    return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"


class Report:
    def __init__(self, prefix: str = "") -> None:
        self.figures: list[Figure] = []
        self.notes: list[str] = []
        self.prefix = prefix  # e.g. "embedded.": the same measurements on another stack

    def add(self, key: str, value: float, unit: str = "", target: str = "") -> Figure:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{key} is not a finite number: {value}")
        figure = Figure(self.prefix + key, float(value), unit, target)
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def missing(self, key: str, why: str) -> Figure:
        """A figure we could not take: printed as such, never silently dropped."""
        figure = Figure(self.prefix + key, None, missing=why)
        self.figures.append(figure)
        print(figure.line(), flush=True)
        return figure

    def note(self, text: str) -> None:
        self.notes.append(f"[{self.prefix.rstrip('.')}] {text}" if self.prefix else text)
        print(f"  note: {text}", flush=True)

    def merge(self, path: Path) -> None:
        """Take in the figures and notes another run saved (already printed by it)."""
        data = json.loads(path.read_text())
        self.figures += [Figure(**f) for f in data["figures"]]
        self.notes += data["notes"]

    def save(self, path: Path, machine: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {"machine": machine, "figures": [asdict(f) for f in self.figures]}
        data["notes"] = self.notes
        path.write_text(json.dumps(data, indent=2))

    def markdown(self) -> str:
        """The table the README's Performance section shows."""
        rows = ["| figure | value | target | |", "|---|---|---|---|"]
        for f in self.figures:
            if f.value is None:
                rows.append(f"| `{f.key}` | {f.missing} | | |")
            else:
                target = f"{f.target} {f.unit}".strip() if f.target else ""
                rows.append(f"| `{f.key}` | {_fmt(f.value)} {f.unit} | {target} | {f.verdict} |")
        return "\n".join(rows)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100): an observed value, never an interpolation."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: list[float]) -> float:
    return float(statistics.median(values))
