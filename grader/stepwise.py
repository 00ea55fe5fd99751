"""Next-character models, stepped by the worker: causal by construction.

The worker holds the text. For each batch of rows, in lockstep, it sends the entry every
row's next character and receives the scores of the character after it ([B, V] logits or
log-probabilities), and only then sends the next character. No character the entry has not
been scored on exists in its sandbox, so there is nothing to look ahead at, and nothing to
relay between runs (docs/architecture.md, the trust boundary, item 4).

Each answer is scored here as it arrives: a log-softmax in float64, then -log2 of the
probability of the character that came next. An answer of the wrong shape or type, one whose
log-probability of that character is NaN or infinite (NaN or infinite scores, 1e308 logits,
a probability of 0), or any other message is the entry's fault: `PolicyFault`, never a score.
The frames are grader/protocol.py's; the harness side is sandboxes/harness/stepwise.py.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np

from grader import metrics as M
from grader import protocol as P
from grader.interactive import PolicyFault, expect
from grader.sandbox.base import Session, SessionTimeout

# Rows stepped together. Per step the entry gets B characters and answers B x V scores, so
# larger batches mean fewer round trips and larger matrix products: the course's LSTM (1024
# units) steps 1,024 rows in about 0.2-0.3 s on 2 cores, where most of a step is the LSTM's
# arithmetic (bench/stepwise.py measures it). Smaller when the vocabulary is large, so a
# float64 answer always fits in one frame.
ROWS_PER_BATCH = 1024
# One step's answer may take this long; the lab's wall time bounds the whole session.
# A model that is rebuilt for a new batch size (stateful Keras) does so at its first step.
STEP_TIMEOUT_S = 60.0


def batch_rows(vocab_size: int, entry_max: int) -> int:
    """How many rows to step together: ROWS_PER_BATCH, fewer when a float64 answer would not
    fit in a frame, and no more than the entry said it can step (0: any number)."""
    fits = max(1, (P.MAX_FRAME - 4096) // (8 * max(1, vocab_size)))
    size = min(ROWS_PER_BATCH, fits)
    return min(size, entry_max) if entry_max > 0 else size


def _send(session: Session, frame: bytes, timeout_s: float, what: str) -> None:
    try:
        session.send(frame, timeout_s)
    except SessionTimeout as exc:
        raise PolicyFault("timeout", f"your model stopped reading {what}") from exc


def entry_max_batch(body: bytes) -> int:
    """The batch limit a HELLO announces (0: any); anything unreadable counts as none."""
    if not body:
        return 0
    try:
        arr = P.decode_array(body)
    except P.ProtocolError:
        return 0
    if arr.size != 1 or arr.dtype.kind not in "iu":
        return 0
    return max(0, int(arr.reshape(-1)[0]))


def answer_bits(body: bytes, targets: np.ndarray, vocab_size: int, where: str) -> np.ndarray:
    """-log2 p(next character) of each row from one SCORES answer (NaN where a row has no
    next character: target < 0). PolicyFault when the answer cannot be scored."""
    try:
        scores = P.decode_array(body)
    except P.ProtocolError as exc:
        raise PolicyFault("invalid_output", f"{exc} ({where})") from exc
    expected = (len(targets), vocab_size)
    if scores.shape != expected:
        raise PolicyFault(
            "invalid_output",
            f"your model answered scores of shape {list(scores.shape)} {where}; expected "
            f"{list(expected)}: one row per text row, one log-probability (or logit) per "
            f"character of the vocabulary of {vocab_size}",
        )
    bits = M.target_bits(scores, targets)
    bad = (targets >= 0) & ~np.isfinite(bits)
    if bad.any():
        raise PolicyFault(
            "invalid_output",
            f"your model's scores {where} give the character that came next a probability "
            f"that is not a finite number, in {int(bad.sum())} of {len(targets)} rows (NaN or "
            "infinite scores, numbers too large for a softmax, or probability 0 for a "
            "character that occurs): answer finite logits or log-probabilities",
        )
    return bits


def step_rows(
    session: Session,
    tokens: np.ndarray,
    targets: np.ndarray,
    vocab_size: int,
    tick: Callable[[], None],
    startup_timeout_s: float,
) -> np.ndarray:
    """Step every row through the entry; -log2 p(target) of each position, float64 [N, T]
    (NaN where the target is negative). Raises PolicyFault or SessionClosed.

    `tokens[i, t]` is sent only once every row of its batch has been answered for position
    t-1, so the answer at t (scored against `targets[i, t]`, the character after it) can
    depend only on characters 0..t of the rows the entry was given. Rows go in a secret
    order; the tally comes back in the set's."""
    kind, body = expect(session, startup_timeout_s, "while loading", "model")
    if kind != P.HELLO:
        raise PolicyFault(
            "invalid_output", "your model wrote to the protocol channel while loading"
        )
    n, length = tokens.shape
    size = batch_rows(vocab_size, entry_max_batch(body))
    bits = np.full((n, length), np.nan)
    # Rows are windows of one text, so a row's last target is the next window's first
    # character, which that row hands the entry at its first step. In a secret order, fresh
    # each session, the entry cannot tell which row continues which.
    order = np.random.default_rng(secrets.randbits(128)).permutation(n)
    for first in range(0, n, size):
        rows = order[first : first + size]
        batch = tokens[rows].astype(np.int32)
        start = P.encode_array(np.array([len(batch)], dtype=np.int64))
        what = f"before rows {first + 1}-{first + len(rows)} of the session"
        _send(session, P.encode_frame(P.START, start), STEP_TIMEOUT_S, what)
        kind, _ = expect(session, STEP_TIMEOUT_S, f"to start({len(batch)}) {what}", "model")
        if kind != P.OK:
            raise PolicyFault(
                "invalid_output", f"your model answered start with something else {what}"
            )
        for t in range(length):
            where = f"at character {t + 1} of rows {first + 1}-{first + len(rows)} of the session"
            chars = P.encode_frame(P.CHARS, P.encode_array(np.ascontiguousarray(batch[:, t])))
            _send(session, chars, STEP_TIMEOUT_S, where)
            kind, answer = expect(session, STEP_TIMEOUT_S, where, "model")
            if kind != P.SCORES:
                raise PolicyFault(
                    "invalid_output", f"your model sent an unexpected message {where}"
                )
            bits[rows, t] = answer_bits(answer, targets[rows, t], vocab_size, where)
            tick()  # every step: a slow model must still be cancellable
    _send(session, P.encode_frame(P.QUIT), STEP_TIMEOUT_S, "at the end")
    return bits


__all__ = ["ROWS_PER_BATCH", "STEP_TIMEOUT_S", "answer_bits", "batch_rows", "step_rows"]
