"""The reference entries exist in their formats, and the baselines do what they claim.

These load the entries directly (they are our own code), without the grader or a sandbox.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import zipfile
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from conftest import LABS

BAD = ("constant", "nan", "wrong_shape", "crash", "sleep")
ENTRY_POINT = {
    "lab1-music": "step",
    "lab2-debias": "predict",
    "lab2-mnist": "predict",
    "lab2-pneumothorax": "predict",
    "lab3-cartpole": "act",
    "lab3-pong": "act",
}


def load_submission(folder: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"entry_{folder.parent.name}_{folder.name}", folder / "submission.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def index(entries: Path) -> dict[str, dict[str, dict[str, str]]]:
    return json.loads((entries / "index.json").read_text())


def test_every_lab_has_the_reference_entries(reference_entries: Path) -> None:
    listed = index(reference_entries)
    assert set(listed) == set(LABS)
    for lab in LABS:
        names = set(listed[lab])
        assert {"baseline", *BAD} <= names, lab
    assert {"left", "controller"} <= set(listed["lab3-cartpole"])
    for lab, entries in listed.items():
        for name, entry in entries.items():
            assert (reference_entries / entry["path"]).exists(), (lab, name)


def test_code_entries_define_their_entry_point(reference_entries: Path) -> None:
    for lab, entries in index(reference_entries).items():
        for name, entry in entries.items():
            if entry["format"] != "code":
                continue
            tree = ast.parse((reference_entries / entry["path"] / "submission.py").read_text())
            functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
            assert ENTRY_POINT[lab] in functions, (lab, name)


def test_model_file_formats(reference_entries: Path) -> None:
    listed = index(reference_entries)
    keras_file = reference_entries / listed["lab2-mnist"]["baseline"]["path"]
    assert keras_file.suffix == ".keras" and listed["lab2-mnist"]["baseline"]["format"] == "keras"
    with zipfile.ZipFile(keras_file) as zf:
        assert "config.json" in zf.namelist()
    torch_file = reference_entries / listed["lab2-debias"]["baseline"]["path"]
    assert listed["lab2-debias"]["baseline"]["format"] == "torchscript"
    with zipfile.ZipFile(torch_file) as zf:  # TorchScript archives are zips holding code/
        assert any("/code/" in name for name in zf.namelist())


def music_logp(folder: Path, tokens: np.ndarray) -> np.ndarray:
    """Step the entry as the grader does: start(N), then step(chars) position by position."""
    entry = load_submission(folder)
    entry.start(len(tokens))
    return np.stack([entry.step(tokens[:, t]) for t in range(tokens.shape[1])], axis=1)


def test_music_baseline_beats_uniform(reference_entries: Path, hidden_dir: Path) -> None:
    sample = hidden_dir / "samples/lab1-music"
    tokens = np.load(sample / "inputs/tokens.npy")
    labels = np.load(sample / "labels/labels.npz")
    baseline = reference_entries / "lab1-music/baseline"
    logp = music_logp(baseline, tokens)
    assert logp.shape == (*tokens.shape, 83) and logp.dtype == np.float32
    np.testing.assert_allclose(np.exp(logp).sum(-1), 1.0, atol=1e-4)
    picked = np.take_along_axis(logp, labels["targets"][..., None].astype(np.int64), 2)
    bits = float(-picked.mean() / np.log(2))
    assert bits < 3.0  # uniform over 83 characters would be 6.4
    assert (baseline / "songs.abc").read_text().startswith("X:")


def cartpole_returns(folder: Path, seeds: list[int]) -> list[float]:
    import gymnasium as gym

    policy = load_submission(folder)
    env = gym.make("CartPole-v1")
    returns = []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy.act(obs))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return returns


def test_cartpole_controller_and_left(reference_entries: Path, hidden_dir: Path) -> None:
    seeds = json.loads((hidden_dir / "samples/lab3-cartpole/labels/seeds.json").read_text())
    seed = seeds["private"][:1]
    assert cartpole_returns(reference_entries / "lab3-cartpole/controller", seed) == [500.0]
    assert cartpole_returns(reference_entries / "lab3-cartpole/baseline", seed) == [500.0]
    assert cartpole_returns(reference_entries / "lab3-cartpole/left", seed)[0] < 50.0


def test_pong_baseline_answers_paddle_actions(reference_entries: Path) -> None:
    policy = load_submission(reference_entries / "lab3-pong/baseline")
    policy.reset()
    diff = np.zeros((40, 40, 1), dtype=np.float32)  # the course's 40x40 observation
    assert policy.act(diff) in (0, 2, 3)
    # Before it has seen the ball move, the policy reads +1 as "new" (current - previous).
    # Paddle moved up from rows 30-34 to 25-29 (centre 27.5).
    diff[30:35, 35:37] = -1.0
    diff[25:30, 35:37] = 1.0
    high, low = diff.copy(), diff.copy()
    high[5:7, 20] = 1.0
    low[37:39, 20] = 1.0
    policy.reset()
    assert policy.act(high) == 2  # UP, towards the ball
    policy.reset()
    assert policy.act(low) == 3  # DOWN


@pytest.mark.slow
def test_mnist_baseline_accuracy(reference_entries: Path, hidden_dir: Path) -> None:
    import keras

    model = keras.saving.load_model(reference_entries / "lab2-mnist/baseline.keras")
    sample = hidden_dir / "samples/lab2-mnist"
    images = np.load(sample / "inputs/images.npy")
    y = np.load(sample / "labels/labels.npz")["y"]
    assert (model.predict(images, verbose=0).argmax(1) == y).mean() > 0.9


@pytest.mark.slow
def test_debias_baseline_separates_faces(reference_entries: Path, hidden_dir: Path) -> None:
    import torch
    from sklearn.metrics import roc_auc_score

    model = torch.jit.load(str(reference_entries / "lab2-debias/baseline.pt"))
    sample = hidden_dir / "samples/lab2-debias"
    # PyTorch entries take NCHW (the lab spec's layout for torch); the set holds NHWC.
    images = torch.from_numpy(np.load(sample / "inputs/images.npy")).permute(0, 3, 1, 2)
    images = images.contiguous()
    y = np.load(sample / "labels/labels.npz")["y"]
    with torch.no_grad():
        prob = model(images).numpy()
    assert prob.shape == (len(y),) and ((prob >= 0) & (prob <= 1)).all()
    assert roc_auc_score(y, prob) > 0.8
    exported = torch.export.load(str(reference_entries / "lab2-debias/baseline_pt2.pt2"))
    with torch.no_grad():
        np.testing.assert_allclose(exported.module()(images).numpy(), prob, atol=1e-5)
