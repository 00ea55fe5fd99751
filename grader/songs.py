"""Checking an entry's generated songs (songs.abc) with music21, bounded in time and memory.

music21 parses some small tunes very slowly (a few kilobytes of bar lines, key or meter
changes take minutes), so it never runs in the worker itself: one child process parses the
tunes one by one under an address-space limit, and the worker kills it when a tune takes
longer than `SONG_TIME_S` (then starts a fresh one for the next tune) or when all of them
together pass `SONGS_TIME_S`. A tune that is too long, too slow or too big for the memory
limit counts as an invalid song, with a note saying why; it is never a platform error.

This module is the one place that hands ABC to music21 (`parseData`, never `parse`: a song
that reads like a file name or a URL must not make the worker open it).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_FILE_BYTES = 2 * 2**20  # of songs.abc read at all
MAX_SONGS = 200
MAX_SONG_BYTES = 8 * 1024  # a folk tune is well under 2 KB
SONG_TIME_S = 5.0  # one tune, wall clock, once the parser is ready
SONGS_TIME_S = 60.0  # every tune of an entry together, parser start-ups included
SONG_MEMORY_MB = 1024  # address space of the parsing process
START_TIME_S = 30.0  # importing music21

# The parsing process: trusted code, untrusted tunes. Answers go to a private copy of
# stdout, so nothing music21 prints can pass for an answer.
_CHILD = r"""
import json, os, resource, sys
limit = int(sys.argv[1]) * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
answers = os.fdopen(os.dup(1), "w", buffering=1)
os.dup2(2, 1)
import music21
answers.write("ready\n")
for line in sys.stdin:
    song = json.loads(line)
    try:
        stream = music21.converter.parseData(song, format="abc")
        verdict = "1" if len(stream.flatten().notes) > 0 else "0"
    except MemoryError:
        verdict = "m"
    except Exception:
        verdict = "0"
    answers.write(verdict + "\n")
"""


@dataclass
class SongCheck:
    validity: float | None  # fraction of valid songs; None when there are none
    songs: int
    notes: list[str] = field(default_factory=list)


def split_abc_songs(text: str) -> list[str]:
    """Songs of an ABC file: each starts at an `X:` header line."""
    starts = [m.start() for m in re.finditer(r"(?m)^X:", text)]
    if not starts:
        return [text] if text.strip() else []
    return [text[a:b] for a, b in zip(starts, [*starts[1:], len(text)], strict=True)]


def read_songs(path: Path) -> str:
    """The first MAX_FILE_BYTES of songs.abc as text."""
    with open(path, "rb") as f:
        return f.read(MAX_FILE_BYTES).decode("utf-8", "replace")


class _Parser:
    """One parsing child process; `verdict` answers "1", "0", "m", or None when it is stuck."""

    def __init__(self, memory_mb: int) -> None:
        self.home = tempfile.mkdtemp(prefix="grader-songs-")
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": self.home,
            "TMPDIR": self.home,
            "LANG": "C.UTF-8",
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(memory_mb)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.home,
            env=env,
            start_new_session=True,
        )
        self.buffer = b""

    def ready(self, deadline: float) -> bool:
        return self._line(deadline) == "ready"

    def verdict(self, song: str, deadline: float) -> str | None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(song).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        return self._line(deadline)

    def _line(self, deadline: float) -> str | None:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _w, _x = select.select([fd], [], [], min(left, 0.5))
            if not ready:
                continue
            chunk = os.read(fd, 4096)
            if not chunk or len(self.buffer) > 4096:
                return None
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii", "replace")

    def close(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass
        from grader.outputs import remove_tree

        remove_tree(Path(self.home))


def check_songs(
    text: str,
    tick: Callable[[], None] | None = None,
    song_time_s: float = SONG_TIME_S,
    total_time_s: float = SONGS_TIME_S,
    memory_mb: int = SONG_MEMORY_MB,
) -> SongCheck:
    """The share of `text`'s songs that music21 parses into a stream with notes.

    `tick` is called between songs (heartbeats; it may raise to cancel)."""
    songs = split_abc_songs(text)
    notes: list[str] = []
    if len(songs) > MAX_SONGS:
        notes.append(f"only the first {MAX_SONGS} songs of songs.abc were checked")
        songs = songs[:MAX_SONGS]
    if not songs:
        return SongCheck(None, 0, notes)
    valid = 0
    too_long: list[int] = []
    too_slow: list[int] = []
    too_big: list[int] = []
    unchecked: list[int] = []
    end = time.monotonic() + total_time_s
    parser: _Parser | None = None
    try:
        for number, song in enumerate(songs, start=1):
            if tick is not None:
                tick()
            if len(song.encode("utf-8")) > MAX_SONG_BYTES:
                too_long.append(number)
                continue
            if time.monotonic() >= end:
                unchecked.append(number)
                continue
            if parser is None:
                parser = _Parser(memory_mb)
                if not parser.ready(min(end, time.monotonic() + START_TIME_S)):
                    parser.close()
                    parser = None
                    unchecked.append(number)
                    continue
            answer = parser.verdict(song, min(end, time.monotonic() + song_time_s))
            if answer == "1":
                valid += 1
            elif answer == "m":
                too_big.append(number)
            elif answer is None:
                # Stuck, or died: this tune is invalid, the next gets a fresh parser.
                parser.close()
                parser = None
                (too_slow if time.monotonic() < end else unchecked).append(number)
    finally:
        if parser is not None:
            parser.close()
    if too_long:
        notes.append(
            f"{_songs(too_long)} longer than {MAX_SONG_BYTES // 1024} KB: counted as invalid"
        )
    if too_slow:
        notes.append(
            f"{_songs(too_slow)} took more than {song_time_s:g} s to parse (or crashed the "
            "parser): counted as invalid"
        )
    if too_big:
        notes.append(f"{_songs(too_big)} needed more than {memory_mb} MB: counted as invalid")
    if unchecked:
        notes.append(
            f"{_songs(unchecked)} not checked within the {total_time_s:g} s allowed for all "
            "songs: counted as invalid"
        )
    return SongCheck(valid / len(songs), len(songs), notes)


def _songs(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:10])
    more = f" and {len(numbers) - 10} more" if len(numbers) > 10 else ""
    return f"song{'s' if len(numbers) > 1 else ''} {shown}{more}"
