"""Entries that try to read the private split out of an interactive lab, for both backends.

The synthetic CartPole set plays seeds 1, 2 in public and 3, 4 in private (tests/grader/synth.py).
"""

from __future__ import annotations

import re

PUBLIC_SEEDS = (1, 2)

# Counts the steps of each episode (CartPole's return) and prints them: on reset, and for the
# last episode of the session at exit.
PRINTS_RETURNS = """
import atexit
import sys

steps = [0]
played = []

def reset():
    if steps[0]:
        played.append(steps[0])
        print("RETURN", steps[0], flush=True)
    steps[0] = 0

def act(obs):
    steps[0] += 1
    return 0

@atexit.register
def last():
    if steps[0]:
        played.append(steps[0])
        print("RETURN", steps[0], flush=True)
    print("ALL", played, file=sys.stderr, flush=True)
"""

# Exactly what a policy writes, from Python's stdout and stderr both.
PRINTS_KNOWN_LINES = """
import sys
print("loaded: stdout")
print("loaded: stderr", file=sys.stderr)

def reset():
    print("reset")

def act(obs):
    return 0
"""
KNOWN_LINES_LOG = "loaded: stdout\nloaded: stderr\nreset\nreset\n"  # 2 public episodes

# Recognises private episodes (the first observation of an episode is not one of the public
# seeds', which an attacker reads from an earlier public log) and then misbehaves: the status
# or reason the student sees must not change.
MISBEHAVES_IN_PRIVATE = """
import os
import time
import numpy as np

PUBLIC_FIRST = np.array({first!r})
fresh = [True]

def reset():
    fresh[0] = True

def act(obs):
    if fresh[0]:
        fresh[0] = False
        if not np.isclose(PUBLIC_FIRST, obs, atol=1e-6).all(axis=1).any():
            {action}
    return 0
"""
MISBEHAVIOURS = {
    "raises": "raise RuntimeError('PRIVATE SPLIT SEEN: mean return 9.5')",
    "exits": "print('PRIVATE SPLIT SEEN', flush=True); os._exit(7)",
    "hangs": "print('PRIVATE SPLIT SEEN', flush=True); time.sleep(30)",
}


def public_first_observations(seeds: tuple[int, ...] = PUBLIC_SEEDS) -> list[list[float]]:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    try:
        return [env.reset(seed=s)[0].tolist() for s in seeds]
    finally:
        env.close()


def misbehaves_in_private(how: str, public_seeds: tuple[int, ...] = PUBLIC_SEEDS) -> str:
    first = public_first_observations(public_seeds)
    return MISBEHAVES_IN_PRIVATE.format(first=first, action=MISBEHAVIOURS[how])


def printed_returns(log: str) -> list[int]:
    return [int(n) for n in re.findall(r"(?m)^RETURN (\d+)$", log)]
