"""grader/causality.py on its own: the cuts, the generated suffixes and the comparison."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader.causality import ATOL, RTOL, CutTokens, cut_tokens, find_violation


def unshuffled(keep: np.ndarray) -> CutTokens:
    """Cuts with run B's rows in run A's order (the tokens play no part in comparing)."""
    return CutTokens(tokens=np.zeros((len(keep), 1)), keep=keep, order=np.arange(len(keep)))


def stream_rows(n: int, t: int, v: int, seed: int = 0) -> np.ndarray:
    """Rows where the next token is always (token + 1) mod v."""
    starts = np.random.default_rng(seed).integers(0, v, size=n)
    return ((starts[:, None] + np.arange(t)[None, :]) % v).astype(np.int32)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 40), t=st.integers(2, 30), v=st.integers(2, 12))
def test_every_row_is_cut_inside_and_changes_right_after_its_cut(n: int, t: int, v: int) -> None:
    tokens = np.random.default_rng(n * t * v).integers(0, v, size=(n, t)).astype(np.int32)
    cut = cut_tokens(tokens, v)
    assert cut.tokens.shape == tokens.shape and cut.tokens.dtype == tokens.dtype
    assert cut.keep.shape == (n,) and ((0 <= cut.keep) & (cut.keep <= t - 2)).all()
    assert ((0 <= cut.tokens) & (cut.tokens < v)).all()
    assert sorted(cut.order) == list(range(n))
    for b_row, a_row in enumerate(cut.order):
        keep = cut.keep[a_row]
        assert (cut.tokens[b_row, : keep + 1] == tokens[a_row, : keep + 1]).all()
        assert cut.tokens[b_row, keep + 1] != tokens[a_row, keep + 1]
    assert cut.positions_checked == int((cut.keep + 1).sum())


def test_cuts_are_uniform_over_the_row_and_fresh_each_time() -> None:
    tokens = stream_rows(31 * 1000, 32, 7)
    one, two = cut_tokens(tokens, 7), cut_tokens(tokens, 7)
    first, second = one.keep, two.keep
    assert not np.array_equal(one.order, two.order)  # rows in a fresh secret order too
    # 31,000 draws over 31 values: a value never drawn has chance < 31 * (30/31)^31000.
    assert set(np.unique(first)) == set(range(31))
    counts = np.bincount(first, minlength=31)
    assert counts.min() > 700 and counts.max() < 1300  # mean 1000, sd ~31: 9.6 sd either way
    assert not np.array_equal(first, second)  # secret draws, not a fixed seed


def test_generated_suffix_continues_like_the_data() -> None:
    # In this data every character is the previous one + 1: after its first (forced
    # different) token the generated suffix follows the same rule, as a real one would.
    v = 9
    tokens = stream_rows(500, 40, v)
    cut = cut_tokens(tokens, v)
    for b_row, a_row in enumerate(cut.order):
        tail = cut.tokens[b_row, cut.keep[a_row] + 1 :].astype(int)
        assert (np.diff(tail) % v == 1).all()


def test_comparison_covers_exactly_the_positions_up_to_the_cut() -> None:
    # Position t predicts token t+1 from tokens 0..t. With tokens 0..keep shared, positions
    # 0..keep must agree (position keep is the last whose inputs are all shared).
    a = np.log(np.full((3, 6, 4), 0.25))
    keep = np.array([2, 0, 4])
    b = a.copy()
    b[0, 3] = np.log([0.7, 0.1, 0.1, 0.1])  # row 0, position keep+1: may differ
    b[1, 1:] = np.log([0.7, 0.1, 0.1, 0.1])
    b[2, 5] = np.log([0.7, 0.1, 0.1, 0.1])
    assert find_violation(a, b, unshuffled(keep)) is None
    b[0, 2] = np.log([0.1, 0.7, 0.1, 0.1])  # row 0, position keep: must agree
    found = find_violation(a, b, unshuffled(keep))
    assert found is not None
    assert (found.row, found.position, found.positions) == (0, 2, 1)
    assert found.difference == pytest.approx(np.log(0.7 / 0.25))


def test_tolerance_absorbs_float_noise_and_nothing_more() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 3, size=(4, 8, 5)).astype(np.float32)
    keep = np.array([7, 7, 7, 7])
    # float32 noise of a few units in the last place, as another batch size may give
    noisy = logits * (1 + rng.uniform(-4e-7, 4e-7, size=logits.shape)).astype(np.float32)
    assert find_violation(logits, noisy, unshuffled(keep)) is None
    # huge logits (masked characters) carry proportionally larger noise: RTOL covers it
    big = logits.copy()
    big[..., 0] = -1e4
    assert find_violation(big, big * np.float32(1 + 3e-7), unshuffled(keep)) is None
    shifted = logits.astype(np.float64)
    shifted[2, 5, 1] += 3 * (ATOL + RTOL * 20)  # a nudge to one character's logit
    found = find_violation(logits, shifted, unshuffled(keep))
    assert found is not None and (found.row, found.position) == (2, 5)


def test_run_b_rows_are_compared_with_their_own_row_of_run_a() -> None:
    a = np.log(np.full((3, 4, 2), 0.5))
    a[1, 0] = np.log([0.9, 0.1])
    order = np.array([2, 0, 1])  # B row 0 holds A row 2, B row 1 holds A row 0, ...
    cut = CutTokens(tokens=np.zeros((3, 4)), keep=np.array([2, 2, 2]), order=order)
    b = a[order]
    assert find_violation(a, b, cut) is None
    assert find_violation(a, a, cut) is not None  # unshuffled, rows 1 and 2 differ


def test_shapes_must_match() -> None:
    with pytest.raises(ValueError):
        find_violation(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)), unshuffled(np.array([0, 0])))
    with pytest.raises(ValueError):
        cut_tokens(np.zeros((3, 1), dtype=np.int32), 4)
