"""The sandbox side of the worker's framed protocol (see grader/protocol.py for the spec)."""

from __future__ import annotations

import struct
from typing import BinaryIO

HELLO, RESET, OK, OBS, ACTION, QUIT, ERROR = b"H", b"R", b"K", b"O", b"A", b"Q", b"E"
HEADER = struct.Struct(">I")
MAX_FRAME = 4 * 1024 * 1024


class ChannelClosed(Exception):
    pass


def write_frame(out: BinaryIO, kind: bytes, body: bytes = b"") -> None:
    payload = kind + body
    out.write(HEADER.pack(len(payload)) + payload)
    out.flush()


def _read_exact(inp: BinaryIO, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = inp.read(n - len(data))
        if not chunk:
            raise ChannelClosed()
        data += chunk
    return data


def read_frame(inp: BinaryIO) -> tuple[bytes, bytes]:
    (length,) = HEADER.unpack(_read_exact(inp, HEADER.size))
    if length == 0 or length > MAX_FRAME:
        raise ChannelClosed()
    payload = _read_exact(inp, length)
    return payload[:1], payload[1:]
