"""Entries built the way the course's notebooks build and save them (aamini/introtodeeplearning,
lab 2 and lab 3, TensorFlow and PyTorch editions), small and briefly trained on the demo's
public data. Each builder runs in a subprocess of its own (TensorFlow and torch start there,
not in the test process) and writes its files into one folder.

    artifacts = build(out_dir, hidden_dir)   # {name: path}
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

TENSORFLOW = r"""
import functools, sys
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, sys.argv[3])
import make_reference_entries

out, data = Path(sys.argv[1]), Path(sys.argv[2])
tf.keras.utils.set_random_seed(0)

# Lab 2, part 1 (MNIST): build_cnn_model, as the notebook writes it (activation=tf.nn.relu
# and tf.nn.softmax), trained briefly, saved whole.
train = np.load(data / "samples/lab2-mnist/train.npz")
def build_cnn_model():
    return tf.keras.Sequential([
        tf.keras.layers.Conv2D(filters=24, kernel_size=(3, 3), activation=tf.nn.relu),
        tf.keras.layers.MaxPool2D(pool_size=(2, 2)),
        tf.keras.layers.Conv2D(filters=36, kernel_size=(3, 3), activation=tf.nn.relu),
        tf.keras.layers.MaxPool2D(pool_size=(2, 2)),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(128, activation=tf.nn.relu),
        tf.keras.layers.Dense(10, activation=tf.nn.softmax),
    ])
cnn = build_cnn_model()
cnn.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3),
            loss="sparse_categorical_crossentropy", metrics=["accuracy"])
cnn.fit(train["x"], train["y"], batch_size=64, epochs=5, verbose=0)
cnn.save(out / "mnist_cnn.keras")
cnn.save(out / "mnist_cnn.h5")
cnn.save_weights(out / "mnist_cnn.weights.h5")

# Lab 2, part 2 (faces): make_standard_classifier (logits), trained briefly.
n_filters = 12
def make_standard_classifier(n_outputs=1):
    Conv2D = functools.partial(tf.keras.layers.Conv2D, padding="same", activation="relu")
    BatchNormalization = tf.keras.layers.BatchNormalization
    Flatten = tf.keras.layers.Flatten
    Dense = functools.partial(tf.keras.layers.Dense, activation="relu")
    return tf.keras.Sequential([
        Conv2D(filters=1 * n_filters, kernel_size=5, strides=2),
        BatchNormalization(),
        Conv2D(filters=2 * n_filters, kernel_size=5, strides=2),
        BatchNormalization(),
        Conv2D(filters=4 * n_filters, kernel_size=3, strides=2),
        BatchNormalization(),
        Conv2D(filters=6 * n_filters, kernel_size=3, strides=2),
        BatchNormalization(),
        Flatten(),
        Dense(512),
        Dense(n_outputs, activation=None),
    ])
faces, crops = make_reference_entries.debias_training_data(data)
many = np.repeat(faces, 40, 0)
gain = np.random.default_rng(0).uniform(0.7, 1.3, (len(many), 1, 1, 1))
x = np.concatenate([np.clip(many * gain, 0, 1), crops[:160]]).astype(np.float32)
y = np.concatenate([np.ones(len(many)), np.zeros(160)]).astype(np.float32)
classifier = make_standard_classifier()
classifier.compile(optimizer=tf.keras.optimizers.Adam(5e-4),
                   loss=tf.keras.losses.BinaryCrossentropy(from_logits=True))
classifier.fit(x, y, batch_size=32, epochs=4, verbose=0)
classifier.save(out / "faces_standard.keras")

# The DB-VAE is a subclassed model: Keras cannot save it whole, so the notebook's student
# keeps its weights. A subclassed model whose constructor takes nothing saves, and then
# does not load anywhere its class is not defined.
class DB_VAE(tf.keras.Model):
    def __init__(self):
        super().__init__()
        self.encoder = make_standard_classifier(1 + 2 * 4)
    def call(self, x):
        return self.encoder(x)[:, :1]
dbvae = DB_VAE()
dbvae(np.zeros((1, 64, 64, 3), np.float32))
dbvae.save_weights(out / "dbvae.weights.h5")
dbvae.save(out / "dbvae_subclassed.keras")

# Lab 3 (RL): create_cartpole_model and create_pong_model, built by a first call as in
# training (untrained: the shape is what is checked), saved whole.
def create_cartpole_model():
    return tf.keras.models.Sequential([
        tf.keras.layers.Dense(units=32, activation="relu"),
        tf.keras.layers.Dense(units=2, activation=None),
    ])
cartpole = create_cartpole_model()
cartpole(np.zeros((1, 4), np.float32))
cartpole.save(out / "cartpole.keras")
Conv2D = functools.partial(tf.keras.layers.Conv2D, padding="same", activation="relu")
def create_pong_model():
    return tf.keras.models.Sequential([
        Conv2D(filters=32, kernel_size=5, strides=2),
        Conv2D(filters=48, kernel_size=5, strides=2),
        Conv2D(filters=64, kernel_size=3, strides=2),
        Conv2D(filters=64, kernel_size=3, strides=2),
        tf.keras.layers.Flatten(),
        tf.keras.layers.Dense(units=128, activation="relu"),
        tf.keras.layers.Dense(units=6, activation=None),
    ])
pong = create_pong_model()
pong(np.zeros((1, 40, 40, 1), np.float32))
pong.save(out / "pong.keras")
"""

TORCH = r"""
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, sys.argv[3])
import make_reference_entries

out, data = Path(sys.argv[1]), Path(sys.argv[2])
torch.manual_seed(0)
torch.set_num_threads(2)

# Lab 2, part 1 (MNIST), PyTorch edition: the notebook's CNN takes NCHW [N, 1, 28, 28].
class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 24, kernel_size=3)
        self.pool = nn.MaxPool2d(kernel_size=2)
        self.conv2 = nn.Conv2d(24, 36, kernel_size=3)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(36 * 5 * 5, 128)
        self.fc2 = nn.Linear(128, 10)
    def forward(self, x):
        x = self.pool(F.relu(self.conv1(x)))
        x = self.pool(F.relu(self.conv2(x)))
        x = F.relu(self.fc1(self.flatten(x)))
        return self.fc2(x)
train = np.load(data / "samples/lab2-mnist/train.npz")
images = torch.from_numpy(train["x"]).permute(0, 3, 1, 2).contiguous()
labels = torch.from_numpy(train["y"])
cnn = CNN()
optimizer = torch.optim.Adam(cnn.parameters(), lr=1e-3)
for epoch in range(5):
    order = torch.randperm(len(images))
    for start in range(0, len(images), 64):
        batch = order[start : start + 64]
        optimizer.zero_grad()
        F.cross_entropy(cnn(images[batch]), labels[batch]).backward()
        optimizer.step()
cnn.eval()
torch.jit.trace(cnn, torch.zeros(1, 1, 28, 28)).save(str(out / "mnist_cnn.pt"))
torch.save(cnn.state_dict(), out / "mnist_cnn.pth")
torch.save(cnn, out / "mnist_cnn_whole.pth")

# Lab 2, part 2 (faces), PyTorch edition: make_standard_classifier, NCHW [N, 3, 64, 64].
n_filters = 12
def make_standard_classifier(n_outputs=1):
    class ConvBlock(nn.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride, padding=0):
            super().__init__()
            self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding=padding)
            self.relu = nn.ReLU()
            self.bn = nn.BatchNorm2d(out_channels)
        def forward(self, x):
            return self.bn(self.relu(self.conv(x)))
    return nn.Sequential(
        ConvBlock(3, n_filters, 5, 2, padding=2),
        ConvBlock(n_filters, 2 * n_filters, 5, 2, padding=2),
        ConvBlock(2 * n_filters, 4 * n_filters, 3, 2, padding=1),
        ConvBlock(4 * n_filters, 6 * n_filters, 3, 2, padding=1),
        nn.Flatten(),
        nn.Linear(4 * 4 * 6 * n_filters, 512),
        nn.ReLU(),
        nn.Linear(512, n_outputs),
    )
faces, crops = make_reference_entries.debias_training_data(data)
x = torch.from_numpy(np.concatenate([np.repeat(faces, 40, 0), crops[:160]])).permute(0, 3, 1, 2)
x = x.contiguous()
y = torch.cat([torch.ones(len(faces) * 40), torch.zeros(160)])
classifier = make_standard_classifier()
optimizer = torch.optim.Adam(classifier.parameters(), lr=5e-4)
for epoch in range(4):
    order = torch.randperm(len(x))
    for start in range(0, len(x), 32):
        batch = order[start : start + 32]
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(classifier(x[batch])[:, 0], y[batch]).backward()
        optimizer.step()
classifier.eval()
torch.jit.trace(classifier, torch.zeros(1, 3, 64, 64)).save(str(out / "faces_standard.pt"))
torch.save(classifier.state_dict(), out / "faces_standard.pth")
torch.save(classifier.state_dict(), out / "faces_legacy.pt", _use_new_zipfile_serialization=False)
"""


def build(out: Path, hidden_dir: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(out),
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PYTHONHASHSEED": "0",
    }
    for script in (TENSORFLOW, TORCH):
        done = subprocess.run(
            [sys.executable, "-c", script, str(out), str(hidden_dir), str(REPO / "scripts")],
            env=env,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr[-4000:]
    return {p.name: p for p in out.iterdir() if p.is_file()}
