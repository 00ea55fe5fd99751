"""Entry point: `python -m harness batch|interactive|stepwise|check ...` (the package docstring)."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from harness import protocol
from harness.loaders import Entry, EntryFailed, EntryRefused, load_entry
from harness.protocol import EXIT_FAILED, EXIT_OK, EXIT_REFUSED

OUTPUT_NAMES = {"classification": "probabilities.npy"}
INPUT_NAMES = {"classification": "images.npy"}


def _status(status: str, reason: str = "", **extra: object) -> None:
    out = Path(os.environ["SANDBOX_OUT"]) / "harness.json"
    out.write_text(json.dumps({"status": status, "reason": reason[:REASON_CHARS], **extra}))


REASON_CHARS = 2000


def _describe(exc: BaseException) -> str:
    """The exception for the student: its head and, however long it is, its last line (a
    TorchScript or Keras loading error names its cause there)."""
    text = f"{type(exc).__name__}: {exc}"
    if len(text) <= REASON_CHARS:
        return text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    last = lines[-1][: REASON_CHARS // 2] if lines else ""
    return f"{text[: REASON_CHARS - len(last) - 8]}\n[...]\n{last}"


def _load(args: argparse.Namespace) -> Entry:
    entry_dir = Path(os.environ["SANDBOX_ENTRY"])
    # The worker says how this entry receives image inputs (the lab spec's layout for its
    # kind); an environment variable, so that an older pinned image simply ignores it.
    layout = os.environ.get("GRADER_INPUT_LAYOUT", "channels_last")
    return load_entry(args.kind, entry_dir / args.main, args.task, layout)


def run_batch(args: argparse.Namespace) -> int:
    inputs = np.load(
        Path(os.environ["SANDBOX_INPUTS"]) / INPUT_NAMES[args.task], allow_pickle=False
    )
    # The worker asks for class activation maps when the lab shows them (its spec's [cam]).
    want_cams = os.environ.get("GRADER_CAMS") == "1"
    t0 = time.monotonic()
    entry = _load(args)
    t1 = time.monotonic()
    chunks: list[np.ndarray] = []
    maps: list[np.ndarray] | None = [] if want_cams else None
    size = max(1, args.batch_size)
    for start in range(0, len(inputs), size):
        batch = inputs[start : start + size]
        try:
            out, batch_maps = entry.predict_with_cams(batch, want_cams)
        except EntryFailed:
            raise
        except Exception as exc:
            if start == 0 and size > 1 and len(batch) > 1:
                # Some exported models have a fixed batch size of 1: retry one row at a time.
                print(
                    f"harness: batch of {len(batch)} failed ({_describe(exc)}); "
                    "retrying one example at a time",
                    file=sys.stderr,
                )
                return _one_by_one(entry, inputs, args, t0, t1, want_cams)
            raise
        chunks.append(out)
        maps = None if maps is None or batch_maps is None else [*maps, batch_maps]
    outputs = np.concatenate(chunks, axis=0) if chunks else np.zeros((0,), np.float32)
    return _save(outputs, _joined(maps, len(inputs)), entry, args, t0, t1)


def _joined(maps: list[np.ndarray] | None, n: int) -> np.ndarray | None:
    """Every batch's maps as one array, or None when some batch had none."""
    if maps is None or (n and not maps):
        return None
    return np.concatenate(maps, axis=0) if maps else np.zeros((0, 0, 0), np.float32)


def run_check(args: argparse.Namespace) -> int:
    """Load the entry and stop: the upload check that a model file loads at all."""
    t0 = time.monotonic()
    _load(args)
    _status("ok", load_s=round(time.monotonic() - t0, 3))
    return EXIT_OK


def _one_by_one(
    entry: Entry,
    inputs: np.ndarray,
    args: argparse.Namespace,
    t0: float,
    t1: float,
    want_cams: bool,
) -> int:
    chunks: list[np.ndarray] = []
    maps: list[np.ndarray] | None = [] if want_cams else None
    for i in range(len(inputs)):
        out, row_maps = entry.predict_with_cams(inputs[i : i + 1], want_cams)
        chunks.append(out)
        maps = None if maps is None or row_maps is None else [*maps, row_maps]
    outputs = np.concatenate(chunks, axis=0)
    return _save(outputs, _joined(maps, len(inputs)), entry, args, t0, t1)


def _save(
    outputs: np.ndarray,
    maps: np.ndarray | None,
    entry: Entry,
    args: argparse.Namespace,
    t0: float,
    t1: float,
) -> int:
    out_dir = Path(os.environ["SANDBOX_OUT"])
    np.save(
        out_dir / OUTPUT_NAMES[args.task],
        outputs.astype(np.float32, copy=False),
        allow_pickle=False,
    )
    extra: dict[str, str] = {}
    if maps is not None:
        np.save(out_dir / "cams.npy", maps.astype(np.float32, copy=False), allow_pickle=False)
    elif os.environ.get("GRADER_CAMS") == "1":
        extra["cam_note"] = entry.cam_note
    _status("ok", load_s=round(t1 - t0, 3), predict_s=round(time.monotonic() - t1, 3), **extra)
    return EXIT_OK


def _encode(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def run_interactive(args: argparse.Namespace) -> int:
    def reset(entry: Entry, _body: bytes) -> tuple[bytes, bytes]:
        entry.reset()
        return protocol.OK, b""

    def act(entry: Entry, body: bytes) -> tuple[bytes, bytes]:
        obs = np.load(io.BytesIO(body), allow_pickle=False)
        # The worker, not the harness, decides whether this is a valid action.
        return protocol.ACTION, _encode(entry.act(obs))

    return protocol.serve(
        lambda: _load(args),
        lambda _entry: b"",
        {protocol.RESET: reset, protocol.OBS: act},
        "act",
        EntryRefused,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness")
    parser.add_argument("mode", choices=["batch", "interactive", "check", "stepwise"])
    parser.add_argument(
        "--task", required=True, choices=["classification", "next_char", "interactive"]
    )
    parser.add_argument("--kind", required=True, choices=["keras", "torch", "code"])
    parser.add_argument("--main", required=True, help="the entry's main file, relative")
    parser.add_argument(
        "--batch-size", type=int, default=int(os.environ.get("GRADER_BATCH_SIZE", "256"))
    )
    args = parser.parse_args(argv)
    if args.mode == "interactive":
        return run_interactive(args)
    if args.mode == "stepwise":
        from harness.stepwise import run_stepwise

        return run_stepwise(args.kind, args.main)
    try:
        return run_check(args) if args.mode == "check" else run_batch(args)
    except EntryRefused as exc:
        _status("rejected", str(exc))
        return EXIT_REFUSED
    except Exception as exc:  # noqa: BLE001
        traceback.print_exc()
        _status("failed", _describe(exc))
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
