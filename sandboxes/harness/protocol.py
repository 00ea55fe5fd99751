"""The sandbox side of the worker's framed protocol (see grader/protocol.py for the spec)."""

from __future__ import annotations

import os
import struct
import sys
import traceback
from collections.abc import Callable
from typing import BinaryIO, TypeVar

_T = TypeVar("_T")
EXIT_OK, EXIT_REFUSED, EXIT_FAILED = 0, 3, 4

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


# What a served entry does with one request frame: (reply kind, reply body).
Handler = Callable[[_T, bytes], tuple[bytes, bytes]]


def serve(
    load: Callable[[], _T],
    hello: Callable[[_T], bytes],
    handlers: dict[bytes, Handler[_T]],
    verb: str,
    refused: type[Exception],
) -> int:
    """The sandbox side of a session: take the channel, load the entry (`refused` is the
    loader's refusal), say HELLO (with the body `hello` gives for the loaded entry), then
    answer each request frame with its handler until QUIT or the channel closes. The entry's
    own failure, at loading or in a handler (`verb` names it: "act", "step"), is sent as an
    ERROR frame, its traceback in the log."""
    channel_out, channel_in = take_channel()
    try:
        entry = load()
    except refused as exc:
        write_frame(channel_out, ERROR, f"refused: {exc}".encode())
        return EXIT_REFUSED
    except Exception as exc:  # noqa: BLE001 - the entry's failure, reported to the worker
        traceback.print_exc()
        write_frame(channel_out, ERROR, f"load: {_describe(exc)}".encode())
        return EXIT_FAILED
    write_frame(channel_out, HELLO, hello(entry))
    while True:
        try:
            kind, body = read_frame(channel_in)
        except ChannelClosed:
            return EXIT_OK
        if kind == QUIT:
            return EXIT_OK
        handler = handlers.get(kind)
        if handler is None:
            return EXIT_FAILED
        try:
            reply, answer = handler(entry, body)
        except Exception as exc:  # noqa: BLE001
            traceback.print_exc()
            write_frame(channel_out, ERROR, f"{verb}: {_describe(exc)}".encode())
            return EXIT_FAILED
        write_frame(channel_out, reply, answer)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"
