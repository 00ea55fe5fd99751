"""Reinforcement-learning episodes: the worker owns the environment, its seeds and the tally.

The sandboxed policy only ever receives observations (already preprocessed) and answers
actions over the framed pipe, under a per-step and a per-episode time limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader import protocol as P
from grader.sandbox.base import Session, SessionClosed, SessionTimeout
from grader.specs import EnvironmentSpec
from grader.text import head_and_last_line


class PolicyFault(Exception):
    """The policy misbehaved; `status` is the report status, the message is for the student."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Episodes:
    """What one session played: each episode's return and length, in seed order."""

    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)


def make_env(env_spec: EnvironmentSpec) -> Any:
    import gymnasium as gym

    if env_spec.id.startswith("ALE/"):
        import ale_py

        gym.register_envs(ale_py)
    return gym.make(
        env_spec.id, max_episode_steps=env_spec.max_episode_steps, **dict(env_spec.kwargs)
    )


def pong80(frame: np.ndarray) -> np.ndarray:
    """The older course Pong preprocessing of one RGB frame (mitdeeplearning before 0.2.0):
    crop rows 35-194, keep every other pixel of the red channel (80x80), erase the two
    background colours, set everything else to 1."""
    img = frame[35:195:2, ::2, 0].copy()
    img[(img == 144) | (img == 109)] = 0  # the two background colours
    binary: np.ndarray = (img != 0).astype(np.float32)
    return binary[..., None]


def pong40(frame: np.ndarray) -> np.ndarray:
    """The course's Pong preprocessing (`mitdeeplearning.lab3.preprocess_pong`, 0.2.0 on):
    pong80, then a 3x3 dilation (OpenCV's `cv2.dilate` with a 3x3 kernel of ones: each
    pixel becomes the maximum of its 3x3 neighbourhood, nothing beyond the border), then
    every other pixel again: 40x40x1."""
    img = pong80(frame)[..., 0]
    padded = np.pad(img, 1)  # zeros: a maximum over 0/1 pixels ignores them
    height, width = img.shape
    dilated = np.max(
        [padded[dy : dy + height, dx : dx + width] for dy in range(3) for dx in range(3)],
        axis=0,
    )
    out: np.ndarray = dilated[::2, ::2, None].astype(np.float32)
    return out


FRAME_PREPROCESSORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "pong40": pong40,
    "pong80": pong80,
}


class Preprocessor:
    """Turns environment observations into what the policy sees."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.previous: np.ndarray | None = None

    def reset(self, obs: np.ndarray) -> np.ndarray:
        self.previous = None
        return self(obs)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        if self.kind == "none":
            return np.asarray(obs, dtype=np.float32)
        current = FRAME_PREPROCESSORS[self.kind](np.asarray(obs))
        # The course's pong_change(previous, current): previous - current, and at the first
        # step of an episode the first frame stands for both (a zero difference).
        previous = current if self.previous is None else self.previous
        self.previous = current
        diff: np.ndarray = previous - current
        return diff


def expect(
    session: Session, timeout_s: float, what: str, who: str = "policy"
) -> tuple[bytes, bytes]:
    """The next frame from the sandboxed entry (`who`: "policy", "model"), as (kind, body);
    PolicyFault when it is late, breaks the protocol or reports an error of its own."""
    try:
        payload = session.recv(timeout_s)
    except SessionTimeout as exc:
        raise PolicyFault(
            "timeout", f"your {who} did not answer within {timeout_s:g} s {what}"
        ) from exc
    except P.ProtocolError as exc:
        raise PolicyFault("invalid_output", f"your {who} broke the protocol {what}: {exc}") from exc
    kind, body = payload[:1], payload[1:]
    if kind == P.ERROR:
        message = head_and_last_line(body.decode("utf-8", "replace"), 900)
        if message.startswith("refused: "):
            raise PolicyFault("rejected", message.removeprefix("refused: "))
        raise PolicyFault("failed", f"your {who} raised an error {what}: {message}")
    return kind, body


def play(
    session: Session,
    env_spec: EnvironmentSpec,
    seeds: list[int],
    tick: Callable[[], None],
    startup_timeout_s: float,
) -> Episodes:
    """Play one episode per seed in this session. Raises PolicyFault or SessionClosed.

    The pipeline gives each split its own session (public first, then private in a fresh
    sandbox), so nothing the policy learns or prints during private episodes can reach what
    a student reads before the reveal."""
    kind, _ = expect(session, startup_timeout_s, "while loading")
    if kind != P.HELLO:
        raise PolicyFault(
            "invalid_output", "your policy wrote to the protocol channel while loading"
        )
    env = make_env(env_spec)
    pre = Preprocessor(env_spec.preprocess)
    result = Episodes()
    try:
        for number, seed in enumerate(seeds, start=1):
            ret, steps = _episode(session, env, pre, env_spec, seed, number, tick)
            result.returns.append(ret)
            result.lengths.append(steps)
        session.send(P.encode_frame(P.QUIT), env_spec.step_timeout_s)
    finally:
        env.close()
    return result


def _episode(
    session: Session,
    env: Any,
    pre: Preprocessor,
    env_spec: EnvironmentSpec,
    seed: int,
    number: int,
    tick: Callable[[], None],
) -> tuple[float, int]:
    step_s = env_spec.step_timeout_s
    obs, _info = env.reset(seed=seed)
    try:
        session.send(P.encode_frame(P.RESET), step_s)
    except SessionTimeout as exc:
        raise PolicyFault(
            "timeout", f"your policy stopped reading before episode {number}"
        ) from exc
    kind, _ = expect(session, step_s, f"to reset() before episode {number}")
    if kind != P.OK:
        raise PolicyFault("invalid_output", "your policy answered a reset with something else")
    observation = pre.reset(obs)
    started = time.monotonic()
    total = 0.0
    steps = 0
    while True:
        try:
            session.send(P.encode_frame(P.OBS, P.encode_array(observation)), step_s)
        except SessionTimeout as exc:
            raise PolicyFault(
                "timeout", f"your policy stopped reading in episode {number}"
            ) from exc
        where = f"at step {steps + 1} of episode {number}"
        kind, body = expect(session, step_s, where)
        if kind != P.ACTION:
            raise PolicyFault("invalid_output", f"your policy sent an unexpected message {where}")
        try:
            action = P.decode_action(body, env_spec.n_actions)
        except P.ProtocolError as exc:
            raise PolicyFault("invalid_output", f"{exc} ({where})") from exc
        obs, reward, terminated, truncated, _info = env.step(action)
        total += float(reward)
        steps += 1
        if terminated or truncated:
            return total, steps
        observation = pre(obs)
        if time.monotonic() - started > env_spec.episode_timeout_s:
            raise PolicyFault(
                "timeout",
                f"episode {number} took longer than {env_spec.episode_timeout_s:g} s "
                f"(your policy answered {steps} steps)",
            )
        # Every step: a slow policy must still be cancellable; callers keep tick() cheap.
        tick()


__all__ = ["Episodes", "PolicyFault", "SessionClosed", "make_env", "play", "pong40", "pong80"]
