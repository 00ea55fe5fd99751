"""Length-prefixed binary frames between the worker and a sandboxed interactive policy.

A frame is a 4-byte big-endian length then the payload; the payload's first byte is the
message type. The harness (sandboxes/harness/protocol.py) speaks the same format; the two
copies are small on purpose, since the sandbox must not import the worker's code.

Worker -> policy: RESET, OBS + .npy bytes, QUIT. Policy -> worker: HELLO once loaded, OK after
a reset, ACTION + .npy bytes (whatever the policy returned, checked by the worker), ERROR +
UTF-8 reason. Arrays cross with `allow_pickle=False` both ways.

A next-character model is stepped the same way (grader/stepwise.py): HELLO (its body, when
not empty, the largest batch of rows the model can step: .npy int64 [1]), then per batch of
rows START + .npy int64 [1] (the batch's number of rows; answered by OK), CHARS + .npy int32
[B] (each row's next character) answered by SCORES + .npy [B, V], and QUIT at the end.
"""

from __future__ import annotations

import io
import struct

import numpy as np

from grader.outputs import npy_from_bytes

HELLO, RESET, OK, OBS, ACTION, QUIT, ERROR = b"H", b"R", b"K", b"O", b"A", b"Q", b"E"
START, CHARS, SCORES = b"S", b"C", b"P"
HEADER = struct.Struct(">I")
MAX_FRAME = 4 * 1024 * 1024


class ProtocolError(Exception):
    pass


def encode_frame(kind: bytes, body: bytes = b"") -> bytes:
    payload = kind + body
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds {MAX_FRAME}")
    return HEADER.pack(len(payload)) + payload


def encode_array(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def decode_array(body: bytes) -> np.ndarray:
    # Checked from its header first: a frame of a few bytes may announce a huge shape.
    try:
        return npy_from_bytes(body, MAX_FRAME)
    except ValueError as exc:
        raise ProtocolError(f"the answer is not a plain numeric array ({exc})") from exc


def decode_action(body: bytes, n_actions: int) -> int:
    """One action: a single integer, or one score per action (the highest wins)."""
    arr = decode_array(body).astype(np.float64)
    if (
        arr.size == n_actions
        and arr.ndim in (1, 2)
        and arr.shape[-1] == n_actions
        and n_actions > 1
    ):
        if not np.isfinite(arr).all():
            raise ProtocolError("act() returned NaN or infinite action scores")
        return int(np.argmax(arr.reshape(-1)))
    if arr.size != 1:
        raise ProtocolError(
            f"act() returned an array of shape {list(arr.shape)}; answer one action "
            f"(an integer 0 to {n_actions - 1}) or {n_actions} scores"
        )
    value = float(arr.reshape(-1)[0])
    if not value.is_integer() or not 0 <= value < n_actions:
        raise ProtocolError(f"act() returned {value:g}; actions are integers 0 to {n_actions - 1}")
    return int(value)
