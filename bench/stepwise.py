"""Lab 1 stepped by the worker, at the size of a real hidden set.

A 5,000-row hidden set (rows of 100 characters over the course's 83-character vocabulary,
cut from the public training tunes, repeated) is graded through `grader.pipeline.grade` on
the process backend, with lab1-music's own limits (its wall time, 2 CPUs), for:
- the staff baseline (the reference trigram entry, step API), and
- a course-size stateful LSTM as the TensorFlow notebook saves it for generation: Embedding
  256, LSTM 1,024 (`stateful=True`), Dense 83, built at batch 1 (random weights: the time
  does not depend on them); the harness rebuilds it for the batch it steps;
- the same LSTM as the PyTorch notebook's model, traced with explicit state.

Target: each finishes inside the lab's wall time. `--quick`: 200 rows and a 64-unit LSTM.

    python -m bench --only lab1          # or, without the bench's services:
    python -m bench.stepwise [--quick] [--rows N] [--only baseline keras torch]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from grader.report import Report as GradeReport

from .report import Report
from .stack import REPO

VOCAB_SIZE = 83
ROW_LENGTH = 100
BUILD_KERAS = """
import sys
import keras
out, units = sys.argv[1], int(sys.argv[2])
model = keras.Sequential([
    keras.layers.Embedding(83, 256),
    keras.layers.LSTM(units, return_sequences=True, recurrent_initializer="glorot_uniform",
                      recurrent_activation="sigmoid", stateful=True),
    keras.layers.Dense(83),
])
model.build((1, None))  # the notebook's generation model
model.save(out)
"""
BUILD_TORCH = """
import sys
import torch
from torch import nn
out, units = sys.argv[1], int(sys.argv[2])


class Stepped(nn.Module):  # the course's LSTMModel, forward(x, state) -> (logits, state)
    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(83, 256)
        self.lstm = nn.LSTM(256, units, batch_first=True)
        self.fc = nn.Linear(units, 83)

    def forward(self, x, state: tuple[torch.Tensor, torch.Tensor]):
        out, state = self.lstm(self.embedding(x), state)
        return self.fc(out), state


zeros = torch.zeros(1, 2, units)
torch.jit.trace(Stepped().eval(), (torch.zeros(2, 1, dtype=torch.long), (zeros, zeros))).save(out)
"""


def build_set(root: Path, rows: int, hidden_dir: Path) -> tuple[Path, Path]:
    """(hidden dir, specs dir): a lab1-music set of `rows` rows, and spec copies naming it."""
    from grader.datasets import (
        music_rows,
        save_json,
        save_npy,
        save_npz,
        split_tunes,
        write_manifest,
    )

    sample = hidden_dir / "samples" / "lab1-music"
    vocab = json.loads((sample / "inputs/vocab.json").read_text(encoding="utf-8"))
    tunes = split_tunes((sample / "train.abc").read_text(encoding="utf-8"))
    rng = np.random.default_rng(191)
    chars_needed = rows * ROW_LENGTH + 1
    pool: list[str] = []
    while sum(len(t) + 2 for t in pool) < chars_needed:
        pool += [tunes[i] for i in rng.permutation(len(tunes))]
    data = music_rows(pool, vocab, rng, ROW_LENGTH)
    name = "lab1-music-v1"
    set_dir = root / "hidden" / name
    save_npy(set_dir / "inputs" / "tokens.npy", data["tokens"][:rows])
    save_json(set_dir / "inputs" / "vocab.json", vocab)
    save_npz(
        set_dir / "labels" / "labels.npz", {k: v[:rows] for k, v in data.items() if k != "tokens"}
    )
    checksum = write_manifest(set_dir, name, "lab1-music")
    specs = root / "specs"
    specs.mkdir()
    for src in (REPO / "lab_specs").glob("*.toml"):
        text = src.read_text()
        if src.stem == "lab1-music":
            text = re.sub(r'(?m)^checksum = ".*"$', f'checksum = "{checksum}"', text)
        (specs / src.name).write_text(text)
    return root / "hidden", specs


def build_model(script: str, out: Path, units: int) -> None:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run(
        [sys.executable, "-c", script, str(out), str(units)],
        check=True,
        capture_output=True,
        env=env,
        timeout=600,
    )


def grade_once(entry: Path, hidden: Path, specs: Path) -> tuple[float, GradeReport]:
    from grader.pipeline import GradeRequest, grade

    os.environ["GRADER_SPECS_DIR"] = str(specs)
    t0 = time.perf_counter()
    report = grade(GradeRequest("lab1-music", entry, hidden_dir=hidden, backend="process"))
    return time.perf_counter() - t0, report


def run(
    report: Report, quick: bool, rows: int | None = None, only: list[str] | None = None
) -> None:
    from grader.specs import load_spec
    from grader.stepwise import ROWS_PER_BATCH

    from .data import ENTRIES_DIR

    rows = rows or (200 if quick else 5000)
    units = 64 if quick else 1024
    print(f"\n== Lab 1 stepped by the worker ({rows} rows of {ROW_LENGTH}, process sandbox)")
    spec = load_spec("lab1-music")
    wall = spec.limits.wall_time_s
    root = Path(tempfile.mkdtemp(prefix="labgrader-bench-lab1-"))
    os.chmod(root, 0o755)  # noqa: S103 - the sandbox user reads the entries made here
    old_specs = os.environ.get("GRADER_SPECS_DIR")
    try:
        hidden, specs = build_set(root, rows, REPO / "var" / "hidden")
        entries = {"baseline": ENTRIES_DIR / "lab1-music" / "baseline"}
        if not only or "keras" in only:
            entries["keras_lstm"] = root / "lstm_batch1.keras"
            build_model(BUILD_KERAS, entries["keras_lstm"], units)
        if not only or "torch" in only:
            entries["torch_lstm"] = root / "lstm_stepped.pt"
            build_model(BUILD_TORCH, entries["torch_lstm"], units)
        report.add("lab1.rows", rows, "rows")
        report.add("lab1.rows_per_step", min(rows, ROWS_PER_BATCH), "rows")
        for name, entry in entries.items():
            if only and name.split("_")[0] not in only:
                continue
            elapsed, result = grade_once(entry, hidden, specs)
            report.add(f"lab1.{name}.grade_s", elapsed, "s", f"< {wall:g}")
            if result.status != "scored" or result.receipt is None:
                # A timeout is a figure too (the grade time says how far over it went).
                report.note(f"lab1 {name} ended {result.status}: {result.reason}")
                continue
            sandbox = result.receipt.wall_time_s
            report.add(f"lab1.{name}.sandbox_s", sandbox, "s")
            report.add(f"lab1.{name}.chars_per_s", rows * ROW_LENGTH / sandbox, "chars/s")
            report.add(f"lab1.{name}.bits_per_char", result.metrics["bits_per_char"], "bits")
    finally:
        if old_specs is None:
            os.environ.pop("GRADER_SPECS_DIR", None)
        else:
            os.environ["GRADER_SPECS_DIR"] = old_specs
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stepwise", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rows", type=int)
    parser.add_argument("--only", nargs="+", choices=["baseline", "keras", "torch"])
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    run(Report(), args.quick, args.rows, args.only)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
