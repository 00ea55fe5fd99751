"""songs.abc is checked by music21 in a bounded child process (issue 15, item 3)."""

from __future__ import annotations

import time

import pytest

from grader import metrics as M
from grader import songs as S
from grader.errors import GradingCancelled
from tests.grader import hostile


@pytest.fixture
def tmp_root(tmp_path):
    with hostile.private_tempdir() as path:
        yield path


def test_a_pathological_tune_is_cut_off_at_the_limit(tmp_root):
    text = hostile.GOOD_TUNE + hostile.SLOW_TUNE + hostile.GOOD_TUNE.replace("X:1", "X:3")
    started = time.monotonic()
    result = S.check_songs(text, song_time_s=2)
    took = time.monotonic() - started
    assert (result.validity, result.songs) == (pytest.approx(2 / 3), 3)
    assert result.notes == [
        "song 2 took more than 2 s to parse (or crashed the parser): counted as invalid"
    ]
    # Unbounded, music21 spends over 60 s on song 2; here 2 s plus two parser start-ups.
    assert took < 30, took
    assert list(tmp_root.iterdir()) == []  # the parser's scratch folders are gone


def test_a_song_that_reads_like_a_path_is_never_opened(tmp_path):
    tune = tmp_path / "tune.abc"
    tune.write_text(hostile.GOOD_TUNE)
    # music21's parse() would open the file (or fetch a URL) named by the text.
    assert M.abc_validity(str(tune)) == (0.0, 1)
    assert M.abc_validity(hostile.GOOD_TUNE) == (1.0, 1)


def test_overlong_songs_and_too_many_songs_count_as_invalid():
    long_tune = hostile.GOOD_TUNE.replace("X:1", "X:2") + "% " + "x" * S.MAX_SONG_BYTES + "\n"
    result = S.check_songs(hostile.GOOD_TUNE + long_tune)
    assert (result.validity, result.songs) == (0.5, 2)
    assert result.notes == ["song 2 longer than 8 KB: counted as invalid"]
    many = "".join(f"X:{i}\nT:t\n" for i in range(S.MAX_SONGS + 5))
    result = S.check_songs(many, total_time_s=0)
    assert result.songs == S.MAX_SONGS
    assert result.notes[0] == f"only the first {S.MAX_SONGS} songs of songs.abc were checked"
    assert "not checked within the 0 s allowed" in result.notes[1]


def test_the_parser_runs_under_a_memory_limit():
    # Too little memory even to import music21: the songs count as invalid, nothing raises.
    result = S.check_songs(hostile.GOOD_TUNE, memory_mb=32)
    assert result.validity == 0.0
    assert result.notes and "counted as invalid" in result.notes[0]


def test_cancelling_between_songs_stops_the_parser(tmp_root):
    calls = []

    def tick():
        calls.append(1)
        if len(calls) == 2:
            raise GradingCancelled("stop")

    with pytest.raises(GradingCancelled):
        S.check_songs(hostile.GOOD_TUNE + hostile.SLOW_TUNE, tick=tick)
    assert list(tmp_root.iterdir()) == []
