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
    """Rows where the next token is always (token + 1) mod V, plus the old check's probe rows
    (unscored, like lab1-music-v1's; the grader no longer reads `probe_*`)."""
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
    set_dir: Path, n: int = 1000, t: int = 32, v: int = 8, n_probe: int = 24, seed: int = 7
) -> dict[str, np.ndarray]:
    """Many rows of random tokens, each drawn uniformly and written twice ("aabbcc..."),
    laid out like lab1-music-v1: it also holds the old check's probe rows (perturbed copies
    after `probe_k`, unscored, shuffled in) and their `probe_*` labels, so an entry can be
    graded by the old check and by the new one alike.

    Rows share no long prefix except the probe pairs. A uniform model scores log2(v) bits per
    character; a causal model can predict every second character (the copy), and a model
    that reads two characters ahead can also predict the others."""
    _fresh(set_dir)
    rng = np.random.default_rng(seed)
    tokens = np.repeat(rng.integers(0, v, size=(n, t // 2 + 1)), 2, axis=1)[:, : t + 1]
    targets, tokens = tokens[:, 1:], tokens[:, :-1]
    src = np.sort(rng.choice(n, size=n_probe, replace=False))
    k = rng.integers(10, t - 10, size=n_probe)
    pert, pert_targets = tokens[src].copy(), targets[src].copy()
    for r, kk in enumerate(k):
        pert[r, kk + 1 :] = (pert[r, kk + 1 :] + rng.integers(1, v, size=t - kk - 1)) % v
        pert_targets[r, kk:-1] = pert[r, kk + 1 :]
    all_tokens = np.concatenate([tokens, pert])
    all_targets = np.concatenate([targets, pert_targets])
    real = np.arange(n + n_probe) < n
    split = np.concatenate([np.arange(n) % 2, np.zeros(n_probe, dtype=np.int64)])
    perm = rng.permutation(n + n_probe)
    new_pos = np.argsort(perm)
    labels = {
        "targets": all_targets[perm].astype(np.int32),
        "real": real[perm],
        "split": split[perm].astype(np.int8),
        "probe_orig": new_pos[src].astype(np.int64),
        "probe_pert": new_pos[n + np.arange(n_probe)].astype(np.int64),
        "probe_k": k.astype(np.int64),
    }
    np.save(set_dir / "inputs" / "tokens.npy", all_tokens[perm].astype(np.int32))
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


# --------------------------------------------------------------------------- causality
# Next-character entries for the hostile-music set (build_music_hostile: V = 8, i.i.d.
# tokens, so an honest model's best is uniform, log2(8) = 3 bits per character). Each
# cheater reads the whole input file itself, as an attacker would, not just its batch.

_CHEAT_PRELUDE = """
import os, zlib
import numpy as np
V = 8
ALL = np.load(os.path.join(os.environ["SANDBOX_INPUTS"], "tokens.npy"))


def uniform(tokens):
    return np.full(tokens.shape + (V,), -np.log(V))


def peek(out, row, pos, token):
    # Put (almost) all the mass on `token`: the character it read ahead.
    out[row, pos] = np.log(1e-3 / V)
    out[row, pos, token] = np.log(1 - 1e-3 + 1e-3 / V)
"""

CHEATERS = {
    # The old check's probes are the only rows sharing a long exact prefix: stay causal on
    # them, read the next character everywhere else.
    "finds_probes": _CHEAT_PRELUDE
    + """
keys, probes = {}, set()
for row in ALL:
    key = row[:10].tobytes()
    if key in keys:
        probes.add(key)
    keys[key] = True


def predict(tokens):
    out = uniform(tokens)
    for i, row in enumerate(tokens):
        if row[:10].tobytes() not in probes:
            for pos in range(len(row) - 1):
                peek(out, i, pos, row[pos + 1])
    return out
""",
    # The old probes were cut at 10..T-11: peek only at the last 10 positions of each row.
    "peeks_last_10": _CHEAT_PRELUDE
    + """
def predict(tokens):
    out = uniform(tokens)
    t = tokens.shape[1]
    for i, row in enumerate(tokens):
        for pos in range(t - 10, t - 1):
            peek(out, i, pos, row[pos + 1])
    return out
""",
    # Peek at a pseudo-random 5% of positions, chosen from the row's prefix, so that both
    # runs choose the same positions wherever their prefixes agree (the hardest case). The
    # old check caught such a model at a probe whose cut fell on a chosen position (chance
    # 1 - 0.95^24, about 71%); SALT2 is the first salt whose choice it misses on this set.
    "peeks_5_percent": _CHEAT_PRELUDE
    + """
SALT = b"SALT2"


def chosen(prefix):
    return zlib.crc32(SALT + prefix.tobytes()) % 20 == 0


def predict(tokens):
    out = uniform(tokens)
    for i, row in enumerate(tokens):
        for pos in range(len(row) - 1):
            if chosen(row[: pos + 1]):
                peek(out, i, pos, row[pos + 1])
    return out
""",
    # Never the next character: the one two ahead, which is its copy when the next one is
    # the first of a pair (odd positions), in the last 10 positions of each row.
    "looks_two_ahead": _CHEAT_PRELUDE
    + """
def predict(tokens):
    out = uniform(tokens)
    t = tokens.shape[1]
    for i, row in enumerate(tokens):
        for pos in range(t - 10, t - 2):
            if pos % 2 == 1:
                peek(out, i, pos, row[pos + 2])
    return out
""",
}

# Honest: uses only the current token, plus batch-dependent float noise of ~1e-6 (like
# BLAS kernels choosing another reduction order for another batch), inside the tolerance.
HONEST_NOISY = """
import numpy as np
V = 8


def predict(tokens):
    tokens = np.asarray(tokens)
    logits = np.zeros(tokens.shape + (V,))
    np.put_along_axis(logits, tokens[..., None], 1e-9, axis=-1)
    noise = 1e-6 * np.sin(float(tokens.sum()) + np.arange(V))
    return (logits + noise).astype(np.float32)
"""

# Honest in what it reads, but random at inference (dropout left on): outputs differ by
# ~1e-2 between runs, far beyond float noise.
RANDOM_AT_INFERENCE = """
import numpy as np
V = 8


def predict(tokens):
    rng = np.random.default_rng()
    return rng.normal(0.0, 1e-2, size=np.shape(tokens) + (V,)).astype(np.float32)
"""


def hostile_music(root: Path) -> tuple[Path, Path]:
    """(hidden dir, specs dir) where lab1-music is the hostile-music set."""
    hidden = root / "hidden"
    build_music_hostile(hidden / "lab1-music-v1")
    checksums = {p.stem: "sha256:TBD" for p in (REPO / "lab_specs").glob("*.toml")}
    checksums["lab1-music"] = _manifest(hidden / "lab1-music-v1", "lab1-music-v1", "lab1-music")
    specs = write_specs(root / "specs", checksums, wall_time_s=120, memory_mb=2000)
    return hidden, specs


def smuggler(stash: str) -> str:
    """A cheater that peeks everywhere in run A and saves A's tokens and outputs under the
    paths `stash` names (host-wide folders: /tmp, /dev/shm); in run B, if it finds them,
    it answers A's outputs for the rows B shares a prefix with, so the two runs agree.
    Only runs that share nothing (a fresh /tmp and /dev/shm each) can catch it."""
    return (
        _CHEAT_PRELUDE
        + f"""
STASH = [os.path.join(d, {stash!r}) for d in ("/tmp", "/dev/shm")]


def load_stash():
    for path in STASH:
        try:
            with np.load(path) as npz:
                return npz["tokens"], npz["out"]
        except Exception:
            continue
    return None


def peek_all(tokens):
    out = uniform(tokens)
    for i, row in enumerate(tokens):
        for pos in range(len(row) - 1):
            peek(out, i, pos, row[pos + 1])
    return out


FOUND = load_stash()
if FOUND is None:
    OUT_ALL = peek_all(ALL)
    for path in STASH:
        try:
            with open(path, "wb") as f:
                np.savez(f, tokens=ALL, out=OUT_ALL)
        except OSError:
            pass

SEEN = 0  # rows answered so far: this row's index in the whole input


def predict(tokens):
    global SEEN
    out = peek_all(tokens)
    if FOUND is not None:
        # Each row gets run A's answer for the row of A at the same index when it starts
        # alike (it is that row, if B kept A's row order), else for the row of A sharing
        # its longest prefix.
        for i, row in enumerate(tokens):
            j = SEEN + i
            if FOUND[0][j][0] != row[0]:
                j = int(np.cumprod(FOUND[0] == row, axis=1).sum(axis=1).argmax())
            out[i] = FOUND[1][j]
    SEEN += len(tokens)
    return out
"""
    )
