"""Tiny synthetic hidden sets in the docs/hidden-data.md layout, and matching spec copies.

The inputs encode their labels in a few pixels so that simple code entries can be perfect,
partly right or wrong on purpose, and the expected metrics can be computed by hand.
"""

from __future__ import annotations

import hashlib
import json
import re
import textwrap
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
GROUPS = ["LF", "LM", "DF", "DM"]
MUSIC_V = 6
MUSIC_T = 20


def _manifest(set_dir: Path, name: str, lab: str) -> str:
    files = {}
    for part in ("inputs", "labels"):
        for p in sorted((set_dir / part).rglob("*")):
            if p.is_file():
                files[p.relative_to(set_dir).as_posix()] = hashlib.sha256(
                    p.read_bytes()
                ).hexdigest()
    lines = "".join(f"{rel} {digest}\n" for rel, digest in sorted(files.items()))
    checksum = "sha256:" + hashlib.sha256(lines.encode()).hexdigest()
    manifest = {"name": name, "lab": lab, "files": files, "checksum": checksum}
    (set_dir / "manifest.json").write_text(json.dumps(manifest))
    return checksum


def _fresh(set_dir: Path) -> None:
    (set_dir / "inputs").mkdir(parents=True)
    (set_dir / "labels").mkdir(parents=True)


def build_mnist(set_dir: Path, n: int = 40, seed: int = 0) -> None:
    _fresh(set_dir)
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    images = rng.uniform(0, 1, size=(n, 28, 28, 1)).astype(np.float32)
    images[:, 0, 0, 0] = y / 10.0  # the label, readable by a "perfect" entry
    np.save(set_dir / "inputs" / "images.npy", images)
    split = (np.arange(n) % 2).astype(np.int8)
    np.savez(set_dir / "labels" / "labels.npz", y=y.astype(np.int64), split=split)


def build_debias(set_dir: Path) -> dict[str, np.ndarray]:
    """16 faces (4 per group, 2 public + 2 private each) and 8 non-faces."""
    _fresh(set_dir)
    group = np.array([g for g in GROUPS for _ in range(4)] + [""] * 8)
    y = (group != "").astype(np.int64)
    split = np.array([0, 0, 1, 1] * 4 + [0, 1] * 4, dtype=np.int8)
    images = np.zeros((len(y), 64, 64, 3), dtype=np.float32)
    images[:, 0, 0, 0] = y  # face or not
    images[:, 0, 0, 1] = [(GROUPS.index(g) + 1) / 4 if g else 0 for g in group]
    np.save(set_dir / "inputs" / "images.npy", images)
    labels = {"y": y, "group": group.astype("<U2"), "split": split}
    np.savez(set_dir / "labels" / "labels.npz", **labels)
    return labels


# Pneumothorax: the region every positive X-ray's mask marks ([rows, columns] of 64x64).
REGION = (slice(8, 16), slice(40, 48))


def build_pneumothorax(set_dir: Path) -> dict[str, np.ndarray]:
    """16 X-rays of 64x64: row i has y = i % 2 and split [0, 0, 1, 1][i % 4]; pixel (0, 0)
    holds the label and pixel (0, 1) the row number / 100, so code entries can answer and
    draw maps per row. Every positive's mask marks REGION (64 pixels)."""
    _fresh(set_dir)
    n = 16
    y = (np.arange(n) % 2).astype(np.int64)
    split = np.array([0, 0, 1, 1] * 4, dtype=np.int8)
    images = np.full((n, 64, 64, 1), 0.25, dtype=np.float32)
    images[:, 0, 0, 0] = y
    images[:, 0, 1, 0] = np.arange(n) / 100
    mask = np.zeros((n, 64, 64), dtype=np.uint8)
    mask[y == 1, REGION[0], REGION[1]] = 1
    np.save(set_dir / "inputs" / "images.npy", images)
    labels = {"y": y, "split": split, "mask": mask}
    np.savez(set_dir / "labels" / "labels.npz", **labels)
    return labels


def build_music(set_dir: Path, seed: int = 0) -> dict[str, np.ndarray]:
    """Rows where the next token is always (token + 1) mod V, plus unscored rows (`real`
    false) laid out like lab1-music-v1's old probe rows: the grader never steps them."""
    _fresh(set_dir)
    rng = np.random.default_rng(seed)
    n_real, n_probe = 8, 4
    starts = rng.integers(0, MUSIC_V, size=n_real)
    stream = (starts[:, None] + np.arange(MUSIC_T + 1)[None, :]) % MUSIC_V
    tokens, targets = stream[:, :-1], stream[:, 1:]
    orig = np.arange(n_probe)
    k = np.array([3, 7, 11, 15])
    pert = tokens[orig].copy()
    pert_targets = targets[orig].copy()
    for r, kk in enumerate(k):
        pert[r, kk + 1 :] = (pert[r, kk + 1 :] + 1 + r % (MUSIC_V - 1)) % MUSIC_V
        pert_targets[r, kk:-1] = pert[r, kk + 1 :]
    all_tokens = np.concatenate([tokens, pert]).astype(np.int32)
    labels = {
        "targets": np.concatenate([targets, pert_targets]).astype(np.int32),
        "real": np.arange(n_real + n_probe) < n_real,
        "split": np.array([0, 1] * (n_real // 2) + [0] * n_probe, dtype=np.int8),
        "probe_orig": orig.astype(np.int64),
        "probe_pert": (n_real + np.arange(n_probe)).astype(np.int64),
        "probe_k": k.astype(np.int64),
    }
    np.save(set_dir / "inputs" / "tokens.npy", all_tokens)
    (set_dir / "inputs" / "vocab.json").write_text(json.dumps(list("abcdef")))
    np.savez(set_dir / "labels" / "labels.npz", **labels)
    return labels


def build_music_hostile(
    set_dir: Path, n: int = 1000, t: int = 32, v: int = 8, seed: int = 7
) -> dict[str, np.ndarray]:
    """Many rows of random tokens, each drawn uniformly and written twice ("aabbcc..."), every
    row starting at a pair. A causal model can predict every copy (0 bits) and nothing else
    (log2(v) bits): its best is log2(v) / 2 bits per character; a model that read ahead could
    do better. No `real`: every row is scored."""
    _fresh(set_dir)
    rng = np.random.default_rng(seed)
    tokens = np.repeat(rng.integers(0, v, size=(n, t // 2 + 1)), 2, axis=1)[:, : t + 1]
    targets, tokens = tokens[:, 1:], tokens[:, :-1]
    labels = {"targets": targets.astype(np.int32), "split": (np.arange(n) % 2).astype(np.int8)}
    np.save(set_dir / "inputs" / "tokens.npy", tokens.astype(np.int32))
    (set_dir / "inputs" / "vocab.json").write_text(json.dumps(list("abcdefgh"[:v])))
    np.savez(set_dir / "labels" / "labels.npz", **labels)
    return labels


def build_seeds(set_dir: Path, public: list[int], private: list[int]) -> None:
    _fresh(set_dir)
    (set_dir / "labels" / "seeds.json").write_text(
        json.dumps({"public": public, "private": private})
    )


def build_all(hidden: Path) -> dict[str, str]:
    """Every lab's set under `hidden`; returns {lab id: checksum}."""
    sets = {
        "lab2-mnist": ("lab2-mnist-v1", lambda d: build_mnist(d)),
        "lab2-debias": ("lab2-debias-v1", build_debias),
        "lab2-pneumothorax": ("lab2-pneumothorax-v1", build_pneumothorax),
        "lab1-music": ("lab1-music-v1", build_music),
        "lab3-cartpole": ("lab3-cartpole-v1", lambda d: build_seeds(d, [1, 2], [3, 4])),
        "lab3-pong": ("lab3-pong-v1", lambda d: build_seeds(d, [1], [2])),
    }
    checksums = {}
    for lab, (name, build) in sets.items():
        build(hidden / name)
        checksums[lab] = _manifest(hidden / name, name, lab)
    build_mnist(hidden / "samples" / "lab2-mnist", n=20, seed=1)
    _manifest(hidden / "samples" / "lab2-mnist", "lab2-mnist", "lab2-mnist")
    return checksums


def write_specs(dst: Path, checksums: dict[str, str] | None, **limits: float) -> Path:
    """Copies of lab_specs/*.toml with other checksums (None: keep) and changed [limits]."""
    dst.mkdir(parents=True, exist_ok=True)
    for src in sorted((REPO / "lab_specs").glob("*.toml")):
        text = src.read_text()
        if checksums is not None:
            text = re.sub(r'(?m)^checksum = ".*"$', f'checksum = "{checksums[src.stem]}"', text)
        for key, value in limits.items():
            text = re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", text)
        (dst / src.name).write_text(text)
    return dst


def write_entry(directory: Path, source: str, name: str = "submission.py", **files: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(textwrap.dedent(source))
    for fname, content in files.items():
        (directory / fname.replace("__", ".")).write_text(content)
    return directory


# --------------------------------------------------------------------------- hostile music
# Next-character entries (the step API) for the hostile-music set (build_music_hostile: V = 8,
# tokens drawn uniformly and written twice). A causal model's best is 1.5 bits per character.

HOSTILE_V = 8
# Of a row's 32 positions the last is never scored (grader.scoring.load_text_rows); of the
# other 31, the 16 copies cost 0 bits and the 15 fresh draws log2(8) = 3 bits each.
BEST_CAUSAL_BITS = 3 * 15 / 31

_PAIRS_PRELUDE = """
import numpy as np
V = 8
SEEN = {"t": 0}


def start(batch_size):
    SEEN["t"] = 0


def copy_known():
    # Rows start at a pair: after an even number of steps the next character is a copy.
    return SEEN["t"] % 2 == 0
"""

# The best causal model: certain of each copy, uniform over the character after a pair.
HONEST_PAIRS = (
    _PAIRS_PRELUDE
    + """

def step(chars):
    out = np.zeros((len(chars), V))
    if copy_known():
        out[:] = np.log(1e-9 / (V - 1))
        out[np.arange(len(chars)), chars] = np.log(1 - 1e-9)
    SEEN["t"] += 1
    return out
"""
)


def extreme_pairs(high: str, low: str, dtype: str, guess_everywhere: bool = True) -> str:
    """An entry answering one-hot scores `high` on its choice and `low` elsewhere, as `dtype`:
    on the copy when it knows it, else (if `guess_everywhere`) on a guess, the current
    character (right 1 time in 8); where it does not guess, zeros (uniform)."""
    return (
        _PAIRS_PRELUDE
        + f"""

def step(chars):
    n = len(chars)
    if copy_known() or {guess_everywhere!r}:
        out = np.full((n, V), {low}, dtype=np.{dtype})
        out[np.arange(n), chars] = {high}
    else:
        out = np.zeros((n, V), dtype=np.{dtype})
    SEEN["t"] += 1
    return out
"""
    )


# Whatever it answers, it also leaves a logprobs.npy of +-1e308 one-hot logits in its output
# folder (the red team's old trick): the worker reads no file, only the answers.
WRITES_LOGPROBS_FILE = (
    HONEST_PAIRS
    + """

import atexit, os


def _leave_file():
    fake = np.full((1000, 32, V), -1e308)
    fake[..., 0] = 1e308
    np.save(os.path.join(os.environ["SANDBOX_OUT"], "logprobs.npy"), fake)


atexit.register(_leave_file)
"""
)

# Logs every frame it gets and every answer it gives, in order, and every file it can find
# that could hold the text (tokens.npy, labels.npz, anything under the sandbox's folders).
LOGS_EVERYTHING = """
import os, sys
import numpy as np
V = VOCAB_SIZE


def _log(*parts):
    print(*parts, file=sys.stderr, flush=True)


for name, folder in sorted(os.environ.items()):
    if name.startswith("SANDBOX_") and os.path.isdir(folder):
        for root, dirs, files in os.walk(folder):
            for f in files:
                _log("FILE", name, os.path.relpath(os.path.join(root, f), folder))
for root in ("/", "/sandbox", "/tmp", "/dev/shm", os.getcwd()):
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("proc", "sys", "dev", "usr", "lib", "lib64")]
        for f in files:
            if f in ("tokens.npy", "labels.npz", "targets.npy"):
                _log("FOUND", os.path.join(dirpath, f))


def start(batch_size):
    _log("START", batch_size)


def step(chars):
    _log("GOT", ",".join(str(int(c)) for c in chars))
    out = np.zeros((len(chars), V))
    _log("ANSWERED")
    return out
"""


def logging_entry(vocab_size: int) -> str:
    return LOGS_EVERYTHING.replace("VOCAB_SIZE", str(vocab_size))


def smuggler(stash: str) -> str:
    """Stashes every row it was given in host-wide folders (/tmp, /dev/shm); graded again, it
    answers from the stash wherever a row's characters so far match a stashed row, which
    would be perfect on a second grading of the same set. Logs whether it found a stash."""
    return (
        _PAIRS_PRELUDE
        + f"""
import os, sys
STASH = [os.path.join(d, {stash!r}) for d in ("/tmp", "/dev/shm")]
FOUND = None
for path in STASH:
    try:
        FOUND = np.load(path)
        break
    except Exception:
        pass
print("STASH", "found" if FOUND is not None else "none", file=sys.stderr, flush=True)
ROWS = []


def start(batch_size):
    SEEN["t"] = 0
    ROWS.append(np.zeros((batch_size, 0), dtype=np.int64))


def step(chars):
    rows = ROWS[-1] = np.concatenate([ROWS[-1], chars[:, None]], axis=1)
    out = np.zeros((len(chars), V))
    if copy_known():
        out[:] = np.log(1e-9 / (V - 1))
        out[np.arange(len(chars)), chars] = np.log(1 - 1e-9)
    elif FOUND is not None and SEEN["t"] + 1 < FOUND.shape[1]:
        t = SEEN["t"]
        for i, row in enumerate(rows):
            match = np.flatnonzero((FOUND[:, : t + 1] == row).all(axis=1))
            if match.size:
                out[i] = np.log(1e-9 / (V - 1))
                out[i, FOUND[match[0], t + 1]] = np.log(1 - 1e-9)
    SEEN["t"] += 1
    seen = np.concatenate([r for r in ROWS if r.shape[1] == rows.shape[1]])
    for path in STASH:
        try:
            with open(path, "wb") as f:
                np.save(f, seen)
        except OSError:
            pass
    return out
"""
    )


def hostile_music(root: Path) -> tuple[Path, Path]:
    """(hidden dir, specs dir) where lab1-music is the hostile-music set."""
    hidden = root / "hidden"
    build_music_hostile(hidden / "lab1-music-v1")
    checksums = {p.stem: "sha256:TBD" for p in (REPO / "lab_specs").glob("*.toml")}
    checksums["lab1-music"] = _manifest(hidden / "lab1-music-v1", "lab1-music-v1", "lab1-music")
    specs = write_specs(root / "specs", checksums, wall_time_s=120, memory_mb=2000)
    return hidden, specs
