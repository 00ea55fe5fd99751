"""Length-prefixed binary frames between the worker and a sandboxed interactive policy.

A frame is a 4-byte big-endian length then the payload; the payload's first byte is the
message type. The harness (sandboxes/harness/protocol.py) speaks the same format; the two
copies are small on purpose, since the sandbox must not import the worker's code.

Worker -> policy: RESET, OBS + .npy bytes, QUIT. Policy -> worker: HELLO once loaded, OK after
a reset, ACTION + JSON number, ERROR + UTF-8 reason.
"""

from __future__ import annotations

import io
import json
import struct

import numpy as np

HELLO, RESET, OK, OBS, ACTION, QUIT, ERROR = b"H", b"R", b"K", b"O", b"A", b"Q", b"E"
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


def decode_action(body: bytes) -> float:
    try:
        value = json.loads(body.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ProtocolError("the action is not a number") from exc
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProtocolError(f"the action {value!r} is not a number")
    return value
