"""The next-character causality check: two sandbox runs that share nothing.

Run A gets the real tokens. Run B gets the same tokens with every row's suffix replaced
after a secret random cut: row i keeps tokens 0..keep[i] and gets generated tokens after
that. A causal model's prediction at position t (the distribution of token t+1) depends only
on tokens 0..t of its row, so its predictions at positions 0..keep[i] must be the same in
both runs. A model that uses token t+1 (or any later one, or another row's later content)
at position t differs there whenever the cut falls in the window it reads.

Only the draws are secret, never the algorithm: the cuts come from `secrets`, the generated
tokens from `os.urandom`, fresh for every grading. Every row is cut, at a position drawn
uniformly from 0..T-2, so no row or position is special. The generated suffix continues the
kept prefix with a character trigram model fitted on the rows themselves, so it reads like
the data around the cut; its first token always differs from the original, so a peek across
the cut always sees a changed character. The original suffix is never copied anywhere in
run B's input, and run B's rows come in a secret order (defence in depth should a backend
ever let run A's state reach run B: see tests/grader/test_causality_hostile.py).

A model that peeks (deterministically) at a set S_i of positions of row i escapes one row
with probability 1 - |S_i|/(T-1); it escapes every row with probability
prod_i (1 - |S_i|/(T-1)) <= (1 - f)^N for a fraction f of peeked positions over N rows.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import numpy as np

from grader.metrics import log_softmax

# Predictions are compared as log-probabilities (log-softmax of the outputs, in float64).
# Two runs of an honest model are not bit-identical: the batches differ in content, and BLAS,
# oneDNN and GPU kernels pick their blocking and reduction order by shape and thread count,
# which moves float32 results by a few units in the last place (relative ~1e-7..1e-6).
# |a - b| <= ATOL + RTOL * max(|a|, |b|) leaves that noise a wide margin (log-probs of
# plausible characters are within -20..0, where the noise is < 1e-5), while any look-ahead
# that is caught can gain at most ATOL + RTOL * |log p| nats at a checked position.
ATOL = 1e-4
RTOL = 1e-5
TOLERANCE_TEXT = "|difference of log-probabilities| <= 1e-4 + 1e-5 * |log-probability|"

_TRIGRAM_MAX_CELLS = 1 << 24  # a trigram table above this (vocabulary > 256) falls back to bigrams
_CHUNK_ROWS = 64  # rows compared at a time: bounds the worker's temporary memory


@dataclass(frozen=True)
class CutTokens:
    """Run B's input: row j of `tokens` is row order[j] of run A's, kept up to its secret
    cut: tokens 0..keep[order[j]] are the originals."""

    tokens: np.ndarray
    keep: np.ndarray  # int64 [N], per row of run A, in 0..T-2
    order: np.ndarray  # int64 [N], a secret permutation

    @property
    def positions_checked(self) -> int:
        return int((self.keep + 1).sum())


@dataclass(frozen=True)
class Violation:
    row: int
    position: int
    difference: float  # the largest |difference of log-probabilities| in that row
    positions: int  # how many checked positions differ beyond the tolerance, in all rows


def _uniform(n: int) -> np.ndarray:
    """n uniform floats in [0, 1) straight from the operating system's random source."""
    raw = np.frombuffer(os.urandom(8 * n), dtype="<u8") if n else np.zeros(0, np.uint64)
    result: np.ndarray = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return result


def _sample(weights: np.ndarray) -> np.ndarray:
    """One index per row of `weights` (non-negative, each row with a positive sum)."""
    cdf = np.cumsum(weights, axis=1)
    u = _uniform(len(weights)) * cdf[:, -1]
    picked: np.ndarray = np.minimum((cdf <= u[:, None]).sum(axis=1), weights.shape[1] - 1)
    return picked


class _Ngrams:
    """Character counts of the rows: trigram, bigram and unigram (add-one) tables."""

    def __init__(self, tokens: np.ndarray, vocab_size: int) -> None:
        v = vocab_size
        flat = tokens.astype(np.int64)
        self.v = v
        self.uni = np.bincount(flat.ravel(), minlength=v)[:v].astype(np.float64) + 1.0
        pairs = flat[:, :-1] * v + flat[:, 1:]
        self.bi = np.bincount(pairs.ravel(), minlength=v * v).reshape(v, v).astype(np.float64)
        self.tri: np.ndarray | None = None
        if v**3 <= _TRIGRAM_MAX_CELLS and flat.shape[1] >= 3:
            triples = (flat[:, :-2] * v + flat[:, 1:-1]) * v + flat[:, 2:]
            counts = np.bincount(triples.ravel(), minlength=v**3)
            self.tri = counts.reshape(v, v, v).astype(np.float32)

    def weights(self, prev2: np.ndarray | None, prev1: np.ndarray) -> np.ndarray:
        """Next-token weights per row given the last one or two tokens, backing off when a
        context was never seen."""
        w: np.ndarray = self.bi[prev1].copy()
        if self.tri is not None and prev2 is not None:
            tri = self.tri[prev2, prev1].astype(np.float64)
            seen = tri.sum(axis=1) > 0
            w[seen] = tri[seen]
        empty = w.sum(axis=1) <= 0
        w[empty] = self.uni
        return w


def cut_tokens(tokens: np.ndarray, vocab_size: int) -> CutTokens:
    """Run B's input: every row kept up to a secret uniform cut, generated after it."""
    n, t = tokens.shape
    if t < 2:
        raise ValueError("rows of fewer than 2 tokens have no position to check")
    keep = np.array([secrets.randbelow(t - 1) for _ in range(n)], dtype=np.int64)
    model = _Ngrams(tokens, vocab_size)
    out = np.array(tokens, copy=True)
    rows = np.arange(n)
    for pos in range(1, t):
        todo = rows[keep < pos]
        if todo.size == 0:
            continue
        prev1 = out[todo, pos - 1].astype(np.int64)
        prev2 = out[todo, pos - 2].astype(np.int64) if pos >= 2 else None
        w = model.weights(prev2, prev1)
        first = keep[todo] == pos - 1
        if first.any():
            # The first generated token always differs from the original one.
            w[first, tokens[todo[first], pos].astype(np.int64)] = 0.0
            dead = first & (w.sum(axis=1) <= 0)
            w[dead] = 1.0
            w[dead, tokens[todo[dead], pos].astype(np.int64)] = 0.0
        out[todo, pos] = _sample(w).astype(out.dtype)
    # Run B's rows in a secret order too: even an entry that smuggled run A's rows and
    # outputs into run B (which the sandbox must prevent) could match its rows only by
    # their kept prefixes, and the rows cut early share their prefix with many others.
    shuffled = list(range(n))
    secrets.SystemRandom().shuffle(shuffled)
    order = np.array(shuffled, dtype=np.int64)
    return CutTokens(tokens=out[order], keep=keep, order=order)


def find_violation(a: np.ndarray, b: np.ndarray, cut: CutTokens) -> Violation | None:
    """Compare the two runs' outputs ([N,T,V] each) at positions 0..keep[i] of each row i of
    run A (row i is row where(order == i) of run B).

    Position t holds the distribution of token t+1, computed from tokens 0..t; those are
    identical in both runs exactly when t <= keep[i], whatever the model reads beyond."""
    keep = cut.keep
    n = a.shape[0] if a.ndim else 0
    if a.shape != b.shape or a.ndim != 3 or len(keep) != n or len(cut.order) != n:
        raise ValueError(f"shapes differ: {a.shape}, {b.shape}, {len(keep)} cuts")
    b_row = np.argsort(cut.order)  # b_row[i]: the row of run B that holds run A's row i
    first: Violation | None = None
    count = 0
    positions = np.arange(a.shape[1])
    for start in range(0, a.shape[0], _CHUNK_ROWS):
        stop = min(start + _CHUNK_ROWS, a.shape[0])
        la, lb = log_softmax(a[start:stop]), log_softmax(b[b_row[start:stop]])
        excess = np.abs(la - lb) - (ATOL + RTOL * np.maximum(np.abs(la), np.abs(lb)))
        bad = (excess > 0).any(axis=-1) & (positions[None, :] <= keep[start:stop, None])
        count += int(bad.sum())
        if first is None and bad.any():
            row, pos = (int(v[0]) for v in np.nonzero(bad))
            diff = float(np.abs(la[row] - lb[row]).max(axis=-1)[bad[row]].max())
            first = Violation(row=start + row, position=pos, difference=diff, positions=0)
    if first is None:
        return None
    return Violation(first.row, first.position, first.difference, count)
