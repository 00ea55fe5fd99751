"""Making untrusted text safe to store and show: decoded, control characters stripped, capped."""

from __future__ import annotations

import re

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def sanitize(data: bytes | str, max_bytes: int = 65536) -> str:
    """Printable text of at most `max_bytes` UTF-8 bytes, keeping the head and the tail."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", errors="replace")
    text = _CONTROL.sub("", _ANSI.sub("", data.replace("\r\n", "\n").replace("\r", "\n")))
    raw = text.encode("utf-8")
    if len(raw) <= max_bytes:
        return text
    # The tail usually holds the traceback; the head holds what the entry printed first.
    head = raw[: max_bytes // 4].decode("utf-8", errors="ignore")
    tail = raw[-(max_bytes - max_bytes // 4 - 64) :].decode("utf-8", errors="ignore")
    return f"{head}\n[... {len(raw) - len(head) - len(tail)} bytes cut ...]\n{tail}"


def one_line(text: str, max_chars: int = 300) -> str:
    text = " ".join(sanitize(text, max_chars * 4).split())
    return text if len(text) <= max_chars else text[: max_chars - 3] + "..."


def head_and_last_line(text: str, max_chars: int = 1000) -> str:
    """One line of at most `max_chars` that keeps both the start of `text` and its last line.

    An exception's message starts with what failed and ends with what was raised: a Keras
    loading error or a TorchScript traceback ("The following operation failed in the
    TorchScript interpreter ... RuntimeError: mat1 and mat2 shapes cannot be multiplied")
    puts the cause in its last line, which a plain cut at the head loses."""
    clean = sanitize(text, 1 << 20)
    flat = " ".join(clean.split())
    if len(flat) <= max_chars:
        return flat
    lines = [ln for ln in clean.splitlines() if ln.strip()]
    last = " ".join(lines[-1].split()) if lines else ""
    if len(last) > max_chars // 2:
        last = last[: max_chars // 2 - 3] + "..."
    head = flat[: max_chars - len(last) - 7].rstrip()
    return f"{head} [...] {last}"
