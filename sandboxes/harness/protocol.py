"""The sandbox side of the worker's framed protocol (see grader/protocol.py for the spec)."""

from __future__ import annotations

import os
import struct
import sys
from typing import BinaryIO

HELLO, RESET, OK, OBS, ACTION, QUIT, ERROR = b"H", b"R", b"K", b"O", b"A", b"Q", b"E"
START, CHARS, SCORES = b"S", b"C", b"P"
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


def take_channel() -> tuple[BinaryIO, BinaryIO]:
    """(out, in): the protocol channel, taken from fds 1 and 0. Fd 1 then points at stderr and
    fd 0 at /dev/null, so nothing the entry prints (from Python or C) can corrupt a frame or
    read the channel."""
    channel_out = os.fdopen(os.dup(1), "wb", buffering=0)
    channel_in = os.fdopen(os.dup(0), "rb", buffering=0)
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.stdout = sys.stderr
    return channel_out, channel_in
