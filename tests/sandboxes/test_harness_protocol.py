"""The harness's copy of the frame format agrees with the worker's."""

import importlib.util
import io

import numpy as np
import pytest

from grader import protocol as P
from tests.grader.synth import REPO


@pytest.fixture(scope="module")
def hp():
    spec = importlib.util.spec_from_file_location("hp", REPO / "sandboxes/harness/protocol.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_frames_cross_both_ways(hp):
    frame = P.encode_frame(P.OBS, P.encode_array(np.arange(6, dtype=np.float32).reshape(2, 3)))
    kind, body = hp.read_frame(io.BytesIO(frame))
    assert kind == hp.OBS
    assert np.load(io.BytesIO(body), allow_pickle=False).tolist() == [[0, 1, 2], [3, 4, 5]]
    out = io.BytesIO()
    hp.write_frame(out, hp.ACTION, P.encode_array(np.array([0.1, 0.7, 0.2])))
    payload = out.getvalue()[P.HEADER.size :]
    assert payload[:1] == P.ACTION and P.decode_action(payload[1:], 3) == 1


def test_oversized_or_truncated_frames_close_the_channel(hp):
    with pytest.raises(hp.ChannelClosed):
        hp.read_frame(io.BytesIO(P.HEADER.pack(P.MAX_FRAME + 1)))
    with pytest.raises(hp.ChannelClosed):
        hp.read_frame(io.BytesIO(P.HEADER.pack(10) + b"O12"))


def test_decode_action_refuses_pickles_and_bad_values():
    import pickle

    with pytest.raises(P.ProtocolError):
        P.decode_action(pickle.dumps(1), 2)
    with pytest.raises(P.ProtocolError, match="integers 0 to 1"):
        P.decode_action(P.encode_array(np.array(2.5)), 2)
    assert P.decode_action(P.encode_array(np.array([1])), 2) == 1


def test_both_copies_name_the_frames_alike(hp):
    names = ("HELLO", "RESET", "OK", "OBS", "ACTION", "QUIT", "ERROR", "START", "CHARS", "SCORES")
    assert [getattr(hp, n) for n in names] == [getattr(P, n) for n in names]
    assert len({getattr(P, n) for n in names}) == len(names)
    assert hp.MAX_FRAME == P.MAX_FRAME
