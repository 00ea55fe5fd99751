"""Write the reference entries: per lab a `baseline` trained on PUBLIC data only, and the
deliberately bad entries the grader must handle (docs/hidden-data.md, "Reference entries").

    python scripts/make_reference_entries.py [--out DIR] [--data DIR]

`--data` is the folder that build_demo_data.py wrote (its samples/ are the training data;
built there first when missing). `DIR/index.json` lists every entry with its format and the
grading status it should get, for the grader's tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import build_demo_data  # noqa: E402
from _common import REPO, default_hidden_dir, save_json, save_npy  # noqa: E402

Index = dict[str, dict[str, dict[str, str]]]


def write_code(folder: Path, source: str, files: dict[str, str] | None = None) -> None:
    """A code entry: submission.py plus optional extra text files (e.g. songs.abc)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "submission.py").write_text(textwrap.dedent(source).lstrip(), encoding="utf-8")
    for name, text in (files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")


# ---------------------------------------------------------------- deliberately bad entries

# Per task kind: the body of the entry point for each bad entry, and its function header.
_HEADERS = {
    "classification": "def predict(images):\n    n = len(images)\n",
    "next-char": "def step(chars):\n    n = len(chars)\n",
    "interactive": "def act(observation):\n",
}
_BAD_BODIES: dict[str, dict[str, str]] = {
    "classification-binary": {
        "constant": "return np.full(n, 0.5, dtype=np.float32)",
        "nan": "return np.full(n, np.nan, dtype=np.float32)",
        "wrong_shape": "return np.full(n - 1, 0.5, dtype=np.float32)",
    },
    "classification-10": {
        "constant": "return np.full((n, 10), 0.1, dtype=np.float32)",
        "nan": "return np.full((n, 10), np.nan, dtype=np.float32)",
        "wrong_shape": "return np.full((n - 1, 10), 0.1, dtype=np.float32)",
    },
    "next-char": {
        "constant": "return np.full((n, V), -np.log(V), dtype=np.float32)",
        "nan": "return np.full((n, V), np.nan, dtype=np.float32)",
        "wrong_shape": "return np.full((n, V - 1), -np.log(V), dtype=np.float32)",
    },
    "interactive": {
        "constant": "return 1",
        "nan": "return float('nan')",
        "wrong_shape": "return np.zeros((2, 2), dtype=np.int64)",
    },
}
_COMMON_BAD = {
    "crash": "raise RuntimeError('deliberate crash in the reference entry')",
    "sleep": "while True:\n        time.sleep(3600)",
}
EXPECTED = {
    "constant": "scored",
    "nan": "invalid_output",
    "wrong_shape": "invalid_output",
    "crash": "failed",
    "sleep": "timeout",
}


def write_bad_entries(out: Path, lab: str, kind: str, index: Index) -> None:
    header_kind = kind.split("-")[0] if kind.startswith("classification") else kind
    header = _HEADERS[header_kind]
    prelude = "import time\n\nimport numpy as np\n"
    if kind == "next-char":
        prelude += "\nV = 83  # size of the lab1-music vocabulary\n"
    for name, body in {**_BAD_BODIES[kind], **_COMMON_BAD}.items():
        source = f'"""Reference entry `{name}` (deliberately bad)."""\n\n{prelude}\n\n'
        source += header + "    " + body + "\n"
        write_code(out / lab / name, source)
        index[lab][name] = {"path": f"{lab}/{name}", "format": "code", "expect": EXPECTED[name]}


# ------------------------------------------------------------------------ lab2-mnist


def mnist_baseline(out: Path, data: Path, index: Index) -> None:
    import keras

    keras.utils.set_random_seed(0)
    train = np.load(data / "samples/lab2-mnist/train.npz")
    # The course's build_cnn_model (lab 2, part 1), trained briefly on the public digits.
    model = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(24, 3, activation="relu"),
            keras.layers.MaxPool2D(2),
            keras.layers.Conv2D(36, 3, activation="relu"),
            keras.layers.MaxPool2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    # The graded digits are warped and noisy (build_demo_data.random_warp, drawn from the
    # installation's secret): the baseline also learns from warped copies of its training
    # digits (public draws).
    rng = np.random.default_rng(0)
    x = np.concatenate([train["x"], *(build_demo_data.random_warp(train["x"], rng) for _ in "ab")])
    model.fit(x, np.concatenate([train["y"]] * 3), epochs=5, batch_size=64, verbose=0)
    path = out / "lab2-mnist" / "baseline.keras"
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)

    sample = data / "samples/lab2-mnist"
    x = np.load(sample / "inputs/images.npy")
    y = np.load(sample / "labels/labels.npz")["y"]
    acc = float((model.predict(x, verbose=0).argmax(1) == y).mean())
    print(f"lab2-mnist    baseline.keras  sample accuracy {acc:.3f}")
    index["lab2-mnist"]["baseline"] = {
        "path": "lab2-mnist/baseline.keras",
        "format": "keras",
        "expect": "scored",
    }


# ------------------------------------------------------------------------ lab2-debias


def debias_training_data(data: Path) -> tuple[np.ndarray, np.ndarray]:
    """The 4 public sample faces and many non-face crops from the photos' public half."""
    labels = np.load(data / "samples/lab2-debias/labels/labels.npz")
    images = np.load(data / "samples/lab2-debias/inputs/images.npy")
    faces = images[labels["y"] == 1]
    photos = build_demo_data.sample_photos()
    width = photos[0].shape[1]
    rng = np.random.default_rng(7)
    crops = [
        c for p in photos for c in build_demo_data.photo_crops(p, 200, (width // 2, width), rng)
    ]
    return faces, np.stack(crops)


def debias_baseline(out: Path, data: Path, index: Index) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(2)
    faces_np, crops_np = debias_training_data(data)
    faces = torch.from_numpy(faces_np).permute(0, 3, 1, 2)
    crops = torch.from_numpy(crops_np).permute(0, 3, 1, 2)

    def augment(x: torch.Tensor) -> torch.Tensor:
        """Flips, random crops rescaled to 64x64, brightness and per-channel colour gains."""
        n = x.shape[0]
        flip = torch.rand(n) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(3), x)
        size = int(torch.randint(44, 65, ()).item())
        top, left = (int(v) for v in torch.randint(0, 65 - size, (2,)))
        x = nn.functional.interpolate(
            x[:, :, top : top + size, left : left + size], size=64, mode="bilinear"
        )
        gain = 0.6 + 0.8 * torch.rand(n, 1, 1, 1)
        colour = 0.85 + 0.3 * torch.rand(n, 3, 1, 1)
        return (x * gain * colour).clamp(0, 1)

    class TinyCNN(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(
                nn.Conv2d(3, 8, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(8, 16, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv2d(16, 32, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.AdaptiveAvgPool2d(1),
                nn.Flatten(),
                nn.Linear(32, 1),
            )

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            # PyTorch entries receive NCHW float32 in [0, 1] (the lab spec's layout).
            return torch.sigmoid(self.features(images)).reshape(-1)

    model = TinyCNN()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.BCELoss()
    for _ in range(300):
        face_batch = augment(faces[torch.randint(0, len(faces), (32,))])
        crop_batch = augment(crops[torch.randint(0, len(crops), (32,))])
        x = torch.cat([face_batch, crop_batch])
        y = torch.cat([torch.ones(32), torch.zeros(32)])
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
    model.eval()

    path = out / "lab2-debias" / "baseline.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    scripted = torch.jit.script(model)
    scripted.save(str(path))
    # The same weights as a torch.export archive, to exercise the grader's .pt2 loader too.
    batch = torch.export.Dim("batch", min=1)
    exported = torch.export.export(
        model, (torch.zeros(2, 3, 64, 64),), dynamic_shapes={"images": {0: batch}}
    )
    torch.export.save(exported, str(path.with_name("baseline_pt2.pt2")))

    from sklearn.metrics import roc_auc_score

    sample = data / "samples/lab2-debias"
    y_true = np.load(sample / "labels/labels.npz")["y"]
    with torch.no_grad():
        images = torch.from_numpy(np.load(sample / "inputs/images.npy")).permute(0, 3, 1, 2)
        prob = scripted(images.contiguous()).numpy()
    auc = roc_auc_score(y_true, prob)
    print(f"lab2-debias   baseline.pt     sample roc_auc {auc:.3f} (torchscript)")
    index["lab2-debias"]["baseline"] = {
        "path": "lab2-debias/baseline.pt",
        "format": "torchscript",
        "expect": "scored",
    }
    index["lab2-debias"]["baseline_pt2"] = {
        "path": "lab2-debias/baseline_pt2.pt2",
        "format": "torch_export",
        "expect": "scored",
    }


# ------------------------------------------------------------------------ lab2-pneumothorax


def xray_cnn(keras: Any, batch_norm: bool) -> Any:
    """A small CNN that ends in global average pooling and one dense unit: the structure the
    grader computes class activation maps of (8x8 maps, upsampled to the 64x64 X-ray)."""
    layers = keras.layers
    stack = [keras.Input((64, 64, 1)), layers.Rescaling(4.0, offset=-1.6)]
    for filters in (16, 32, 64):
        stack.append(layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm))
        stack += [layers.BatchNormalization()] if batch_norm else []
        stack += [layers.ReLU(), layers.MaxPool2D(2)]
    stack += [
        layers.Conv2D(64, 3, padding="same", activation="relu"),
        layers.GlobalAveragePooling2D(),
        layers.Dense(1, activation="sigmoid"),
    ]
    return keras.Sequential(stack)


def without_shortcut(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The training X-rays with the corner marker made meaningless: each top-left corner is
    replaced by the mirrored top-right one (which never has a marker), then half of them
    get a marker at random."""
    x = x.copy()
    x[:, :14, :14, 0] = x[:, :14, -14:, 0][:, :, ::-1]
    for i in np.flatnonzero(rng.random(len(x)) < 0.5):
        build_demo_data.draw_marker(x[i, :, :, 0], rng)
    return x


def pneumothorax_entries(out: Path, data: Path, index: Index) -> None:
    import keras
    from sklearn.metrics import roc_auc_score

    train = np.load(data / "samples/lab2-pneumothorax/train.npz")
    x = train["x"].astype(np.float32) / np.float32(255)
    y = train["y"]
    sample = data / "samples/lab2-pneumothorax"
    x_sample = np.load(sample / "inputs/images.npy")
    y_sample = np.load(sample / "labels/labels.npz")["y"]
    folder = out / "lab2-pneumothorax"
    folder.mkdir(parents=True, exist_ok=True)
    # The staff baseline (batch normalisation, 10 epochs) learns from X-rays whose marker
    # says nothing; the shortcut model (a plain CNN, 3 epochs) from the X-rays as they are,
    # where the marker is the easiest cue.
    for name, epochs, baseline in (("baseline", 10, True), ("shortcut", 3, False)):
        keras.utils.set_random_seed(0)
        model = xray_cnn(keras, batch_norm=baseline)
        model.compile(keras.optimizers.Adam(1e-3), "binary_crossentropy")
        rng = np.random.default_rng(3)
        for _ in range(epochs):
            model.fit(without_shortcut(x, rng) if baseline else x, y, batch_size=32, verbose=0)
        if baseline:
            # Batch normalisation's running statistics leave the trained probabilities off
            # (a ROC AUC of 0.99 at 77 % accuracy): the dense unit alone is fitted again on
            # the frozen features, which then run in inference mode.
            for layer in model.layers[:-1]:
                layer.trainable = False
            model.compile(keras.optimizers.Adam(1e-2), "binary_crossentropy")
            model.fit(without_shortcut(x, rng), y, batch_size=64, epochs=2, verbose=0)
        path = folder / f"{name}.keras"
        model.save(path)
        auc = roc_auc_score(y_sample, model.predict(x_sample, verbose=0)[:, 0])
        print(
            f"lab2-pneumothorax {name}.keras sample roc_auc {auc:.3f} (the sample has the marker)"
        )
        index["lab2-pneumothorax"][name] = {
            "path": f"lab2-pneumothorax/{name}.keras",
            "format": "keras",
            "expect": "scored",
        }


# ------------------------------------------------------------------------ lab1-music

MUSIC_SUBMISSION = '''
"""Reference entry `baseline`: interpolated character trigram model, on the step API.

The grader starts each batch of rows with start(batch_size), then calls step(chars) with
every row's next character and takes the log-probabilities of the character after it.
trigram.npy[a, b, c] = log P(next = c | previous = a, current = b), where a = V means
"no previous character" (the first position of a row).
"""

from pathlib import Path

import numpy as np

_TABLE = np.load(Path(__file__).with_name("trigram.npy"), allow_pickle=False)
_START = _TABLE.shape[0] - 1
_previous = np.zeros(0, dtype=np.int64)


def start(batch_size):
    global _previous
    _previous = np.full(batch_size, _START, dtype=np.int64)


def step(chars):
    global _previous
    scores = _TABLE[_previous, chars]
    _previous = np.asarray(chars, dtype=np.int64)
    return scores
'''


def trigram_table(text: str, vocab: list[str], weights: tuple[float, ...]) -> np.ndarray:
    """log P(c | a, b) as [V+1, V, V] float32, linearly interpolating orders 0..3."""
    v = len(vocab)
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.array([index[ch] for ch in text], dtype=np.int64)
    uni = np.bincount(ids, minlength=v) + 1.0
    bi = np.bincount(ids[:-1] * v + ids[1:], minlength=v * v).reshape(v, v) + 0.1
    tri = np.bincount(ids[:-2] * v * v + ids[1:-1] * v + ids[2:], minlength=v**3)
    tri = tri.reshape(v, v, v) + 0.01
    w0, w1, w2, w3 = weights
    p1 = uni / uni.sum()
    p2 = bi / bi.sum(axis=1, keepdims=True)
    p3 = tri / tri.sum(axis=2, keepdims=True)
    mixed = w0 / v + w1 * p1[None, None, :] + w2 * p2[None, :, :] + w3 * p3
    start = (w0 / v + w1 * p1[None, :] + (w2 + w3) * p2)[None]  # no previous character
    table = np.concatenate([mixed / mixed.sum(2, keepdims=True), start], axis=0)
    return np.log(table).astype(np.float32)


def sample_tunes(table: np.ndarray, vocab: list[str], count: int, seed: int) -> str:
    """A few tunes sampled from the model, each started with an ABC header line "X:"."""
    rng = np.random.default_rng(seed)
    index = {ch: i for i, ch in enumerate(vocab)}
    # Sampling at temperature 0.6 keeps the songs closer to well-formed ABC.
    probs = np.exp(table.astype(np.float64) / 0.6)
    tunes = []
    for number in range(1, count + 1):
        text = f"X:{number}\n"
        a, b = index[text[-2]], index[text[-1]]
        while len(text) < 800 and not text.endswith("\n\n"):
            p = probs[a, b]
            c = int(rng.choice(len(vocab), p=p / p.sum()))
            text += vocab[c]
            a, b = b, c
        tunes.append(text.strip("\n"))
    return "\n\n".join(tunes) + "\n"


def music_bits_per_char(table: np.ndarray, data: Path) -> float:
    sample = data / "samples/lab1-music"
    tokens = np.load(sample / "inputs/tokens.npy").astype(np.int64)
    labels = np.load(sample / "labels/labels.npz")
    real = labels["real"] if "real" in labels else np.ones(len(tokens), dtype=bool)
    prev = np.concatenate([np.full((len(tokens), 1), table.shape[0] - 1), tokens[:, :-1]], 1)
    logp = table[prev, tokens, labels["targets"]][real]
    return float(-logp.mean() / np.log(2))


def music_entries(out: Path, data: Path, index: Index) -> None:
    sample = data / "samples/lab1-music"
    vocab: list[str] = json.loads((sample / "inputs/vocab.json").read_text(encoding="utf-8"))
    text = (sample / "train.abc").read_text(encoding="utf-8")
    table = trigram_table(text.rstrip("\n") + "\n\n", vocab, (0.005, 0.01, 0.1, 0.885))
    folder = out / "lab1-music" / "baseline"
    write_code(folder, MUSIC_SUBMISSION, {"songs.abc": sample_tunes(table, vocab, 3, seed=5)})
    save_npy(folder / "trigram.npy", table)
    bpc = music_bits_per_char(table, data)
    print(f"lab1-music    baseline/       sample bits_per_char {bpc:.3f}")
    index["lab1-music"]["baseline"] = {
        "path": "lab1-music/baseline",
        "format": "code",
        "expect": "scored",
    }


# ------------------------------------------------------------------------ lab3-cartpole

LINEAR_SUBMISSION = '''
"""Reference entry `baseline`: linear policy push right iff w . observation > 0.

w (weights.json) came from a short hill climb on the public sample seeds.
"""

import json
from pathlib import Path

import numpy as np

_W = np.array(json.loads(Path(__file__).with_name("weights.json").read_text()))


def act(observation):
    return int(float(np.dot(_W, np.asarray(observation, dtype=np.float64))) > 0.0)
'''

CONTROLLER_SUBMISSION = '''
"""Reference entry `controller`: hand-written balancing controller.

Push towards the side the pole is falling to (angle plus damped angular velocity), with a
small pull of the cart back to the centre so that it never leaves the track in 500 steps.
"""


def act(observation):
    x, x_dot, theta, theta_dot = (float(v) for v in observation)
    return int(theta + 0.3 * theta_dot + 0.01 * x + 0.1 * x_dot > 0.0)
'''

LEFT_SUBMISSION = '''
"""Reference entry `left`: always pushes the cart left (action 0)."""


def act(observation):
    return 0
'''


def cartpole_return(weights: np.ndarray, seeds: list[int]) -> float:
    import gymnasium as gym

    env = gym.make("CartPole-v1")
    total = 0.0
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(int(float(weights @ obs) > 0.0))
            total += float(reward)
            done = terminated or truncated
    env.close()
    return total / len(seeds)


def cartpole_entries(out: Path, data: Path, index: Index) -> None:
    seeds = json.loads((data / "samples/lab3-cartpole/labels/seeds.json").read_text())["public"]
    rng = np.random.default_rng(11)
    # Start from the textbook direction (push the way the pole leans and turns): the sample
    # seeds now come from each installation's secret, and a random start could stall far
    # below 500 on some draws (9.7 on one), which is no staff baseline.
    best = np.array([0.0, 0.5, 1.0, 1.0]) + 0.05 * rng.normal(size=4)
    best_score = cartpole_return(best, seeds)
    for _ in range(40):  # hill climb: stops early once every public episode reaches 500
        if best_score >= 500.0:
            break
        candidate = best + 0.5 * rng.normal(size=4)
        score = cartpole_return(candidate, seeds)
        if score >= best_score:
            best, best_score = candidate, score
    folder = out / "lab3-cartpole" / "baseline"
    write_code(folder, LINEAR_SUBMISSION)
    save_json(folder / "weights.json", [round(float(w), 6) for w in best])
    print(f"lab3-cartpole baseline/       sample mean_return {best_score:.1f}")
    for name, source, expect in (
        ("baseline", None, "scored"),
        ("controller", CONTROLLER_SUBMISSION, "scored"),
        ("left", LEFT_SUBMISSION, "scored"),
    ):
        if source is not None:
            write_code(out / "lab3-cartpole" / name, source)
        index["lab3-cartpole"][name] = {
            "path": f"lab3-cartpole/{name}",
            "format": "code",
            "expect": expect,
        }


# ------------------------------------------------------------------------ lab3-pong

PONG_SUBMISSION = '''
"""Reference entry `baseline`: heuristic Pong player, no learning.

The observation is the course's preprocessed frame difference (mitdeeplearning's
preprocess_pong and pong_change: 40x40, rows 35:195 of the frame, every other pixel,
background erased, dilated 3x3, every other pixel again; previous minus current frame, or
the reverse). The player's paddle lives in columns 35-36, the opponent's in 4-5, the ball
between them. Whichever sign convention the difference uses is learnt from the ball: the
pixel where it appears in one difference is where it leaves from in the next, with the
opposite sign.
"""

import numpy as np

NOOP, UP, DOWN = 0, 2, 3
SIZE = 40
PADDLE_COLS = slice(35, 37)
BALL_COLS = slice(6, 35)
HALF_PADDLE = 2.5
DEAD_ZONE = 1.0

_state = {}


def reset():
    _state.clear()
    _state.update(paddle=SIZE / 2, prev_ball=None, votes=0.0)


def act(observation):
    if not _state:
        reset()
    diff = np.asarray(observation, dtype=np.float32).reshape(SIZE, SIZE)
    ball = diff[:, BALL_COLS]
    prev = _state["prev_ball"]
    if prev is not None:
        flipped = (ball * prev) < 0
        _state["votes"] += float(prev[flipped].sum())
    _state["prev_ball"] = ball.copy()
    sign = 1.0 if _state["votes"] >= 0 else -1.0

    # "new" rows are where the paddle is now; "old" where it was.
    paddle = diff[:, PADDLE_COLS].sum(axis=1) * sign
    new = np.nonzero(paddle > 0)[0]
    old = np.nonzero(paddle < 0)[0]
    if new.size and old.size:
        moved_down = new.mean() > old.mean()
        _state["paddle"] = new.max() - HALF_PADDLE if moved_down else new.min() + HALF_PADDLE
    elif new.size:
        _state["paddle"] = float(new.mean())

    ball_rows = np.nonzero((ball * sign > 0).any(axis=1))[0]
    target = float(ball_rows.mean()) if ball_rows.size else SIZE / 2
    if target < _state["paddle"] - DEAD_ZONE:
        return UP
    if target > _state["paddle"] + DEAD_ZONE:
        return DOWN
    return NOOP
'''


def pong_entries(out: Path, index: Index) -> None:
    write_code(out / "lab3-pong" / "baseline", PONG_SUBMISSION)
    index["lab3-pong"]["baseline"] = {
        "path": "lab3-pong/baseline",
        "format": "code",
        "expect": "scored",
    }


# ------------------------------------------------------------------------ main

LAB_KINDS = {
    "lab1-music": "next-char",
    "lab2-mnist": "classification-10",
    "lab2-debias": "classification-binary",
    "lab2-pneumothorax": "classification-binary",
    "lab3-cartpole": "interactive",
    "lab3-pong": "interactive",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "var" / "entries")
    parser.add_argument("--data", type=Path, default=None, help="default: $GRADER_HIDDEN_DIR")
    args = parser.parse_args(argv)
    out: Path = args.out
    data: Path = args.data or default_hidden_dir()
    if not (data / "samples").is_dir():
        build_demo_data.main(["--out", str(data)])

    index: Index = {lab: {} for lab in LAB_KINDS}
    for lab in LAB_KINDS:
        if (out / lab).exists():
            shutil.rmtree(out / lab)
    steps: list[tuple[str, Any]] = [
        ("lab1-music", lambda: music_entries(out, data, index)),
        ("lab2-mnist", lambda: mnist_baseline(out, data, index)),
        ("lab2-debias", lambda: debias_baseline(out, data, index)),
        ("lab2-pneumothorax", lambda: pneumothorax_entries(out, data, index)),
        ("lab3-cartpole", lambda: cartpole_entries(out, data, index)),
        ("lab3-pong", lambda: pong_entries(out, index)),
    ]
    for lab, step in steps:
        start = time.perf_counter()
        step()
        write_bad_entries(out, lab, LAB_KINDS[lab], index)
        print(f"{lab:13s} done in {time.perf_counter() - start:.1f} s")
    save_json(out / "index.json", index)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
