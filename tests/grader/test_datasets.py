"""`python -m grader dataset build|verify` for every source format, and its errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from grader.cli import main
from grader.datasets import stratified_split, verify_set
from grader.hidden import compute_checksum
from grader.specs import REPO_DIR

GROUPS = ["LF", "LM", "DF", "DM"]


@pytest.fixture
def specs(tmp_path, monkeypatch) -> Path:
    """A writable copy of lab_specs/ (--write-spec and lab new edit it)."""
    dst = tmp_path / "specs"
    shutil.copytree(REPO_DIR / "lab_specs", dst)
    monkeypatch.setenv("GRADER_SPECS_DIR", str(dst))
    return dst


def png(path: Path, size: int, mode: str, value: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    shape = (size, size) if mode == "L" else (size, size, 3)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(path)


def build(*args: str) -> int:
    return main(["dataset", "build", *args])


def labels_of(set_dir: Path) -> dict[str, np.ndarray]:
    with np.load(set_dir / "labels" / "labels.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def digits_folder(root: Path, per_class: int = 4) -> Path:
    for label in range(10):
        for i in range(per_class):
            png(root / str(label) / f"{i}.png", 28, "L", label * 100 + i)
    return root


def faces_csv(root: Path, with_split: bool = False) -> Path:
    rows = []
    n = 0
    for g in GROUPS:
        for i in range(4):
            png(root / "img" / f"{g}{i}.png", 64, "RGB", n := n + 1)
            row = {"path": f"img/{g}{i}.png", "label": "1", "group": g}
            if with_split:
                row["split"] = "public" if i == 0 else "private"
            rows.append(row)
    for i in range(6):
        png(root / "img" / f"bg{i}.png", 64, "RGB", n := n + 1)
        row = {"path": f"img/bg{i}.png", "label": "0", "group": ""}
        if with_split:
            row["split"] = ""
        rows.append(row)
    path = root / "faces.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_folder_per_class_builds_a_stratified_set(specs, tmp_path, capsys):
    src = digits_folder(tmp_path / "digits")
    out = tmp_path / "hidden" / "lab2-mnist-v1"
    assert build("--lab", "lab2-mnist", str(src), "--out", str(out), "--write-spec") == 0
    printed = capsys.readouterr().out
    checksum = compute_checksum(out)
    assert checksum in printed
    assert f'checksum = "{checksum}"' in (specs / "lab2-mnist.toml").read_text()
    images = np.load(out / "inputs" / "images.npy")
    assert images.shape == (40, 28, 28, 1) and images.dtype == np.float32
    assert 0 <= images.min() and images.max() <= 1
    labels = labels_of(out)
    assert set(labels) == {"y", "split"}
    for label in range(10):  # stratified: 2 public, 2 private per class
        assert (labels["split"][labels["y"] == label] == 0).sum() == 2
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["checksum"] == checksum and manifest["lab"] == "lab2-mnist"
    assert set(manifest["files"]) == {"inputs/images.npy", "labels/labels.npz"}
    # The grader now accepts the set against the updated spec.
    assert main(["dataset", "verify", str(out), "--lab", "lab2-mnist"]) == 0


def test_csv_with_groups_and_given_splits(specs, tmp_path):
    src = faces_csv(tmp_path / "src", with_split=True)
    out = tmp_path / "set"
    assert build("--lab", "lab2-debias", str(src), "--out", str(out)) == 0
    labels = labels_of(out)
    assert set(labels) == {"y", "group", "split"}
    for g in GROUPS:  # the CSV said: one public, three private per group
        assert sorted(labels["split"][labels["group"] == g]) == [0, 1, 1, 1]
    assert (labels["split"][labels["y"] == 0] == 0).sum() == 3  # drawn: half of 6
    assert np.load(out / "inputs" / "images.npy").shape == (22, 64, 64, 3)


def test_npz_source(specs, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (30, 28, 28), dtype=np.uint8)
    y = np.arange(30) % 10
    np.savez(tmp_path / "src.npz", x=x, y=y)
    out = tmp_path / "set"
    assert build("--lab", "lab2-mnist", str(tmp_path / "src.npz"), "--out", str(out)) == 0
    images = np.load(out / "inputs" / "images.npy")
    labels = labels_of(out)
    # Rows are shuffled, but every image keeps its label.
    for img, label in zip(images, labels["y"], strict=True):
        row = int(np.flatnonzero((x == np.round(img[..., 0] * 255)).all(axis=(1, 2)))[0])
        assert y[row] == label


def test_same_secret_same_set_and_another_secret_another_split(specs, tmp_path):
    src = digits_folder(tmp_path / "digits")
    secret = tmp_path / "secret"
    sums = []
    for name in ("a", "b"):
        out = tmp_path / name
        build("--lab", "lab2-mnist", str(src), "--out", str(out), "--secret-file", str(secret))
        sums.append(compute_checksum(out))
    assert sums[0] == sums[1]
    assert secret.stat().st_mode & 0o777 == 0o600
    build("--lab", "lab2-mnist", str(src), "--out", str(tmp_path / "c"))  # fresh secret
    assert compute_checksum(tmp_path / "c") != sums[0]


def test_abc_tunes_with_derived_and_given_vocabulary(specs, tmp_path):
    tunes = [f"X:{i}\nT:Tune {i}\nK:G\n" + "ABcd efga|" * (5 + i) for i in range(12)]
    src = tmp_path / "tunes.abc"
    src.write_text("\n\n".join(tunes) + "\n")
    out = tmp_path / "music"
    assert build("--lab", "lab1-music", str(src), "--out", str(out), "--seq-len", "40") == 0
    vocab = json.loads((out / "inputs" / "vocab.json").read_text())
    assert vocab == sorted(set("\n\n".join(tunes) + "\n"))
    tokens = np.load(out / "inputs" / "tokens.npy")
    labels = labels_of(out)
    assert tokens.shape[1] == 40
    assert set(labels) == {"targets", "split"}  # every row is scored: no probe rows
    assert (labels["targets"][:, :-1] == tokens[:, 1:]).all()
    # A given vocabulary is kept as given (its order is the token ids).
    given = tmp_path / "vocab.json"
    given.write_text(json.dumps(list(reversed(vocab)) + ["#"]))
    out2 = tmp_path / "music2"
    args = [str(src), "--out", str(out2), "--vocab", str(given), "--seq-len", "40"]
    assert build("--lab", "lab1-music", *args) == 0
    assert json.loads((out2 / "inputs" / "vocab.json").read_text()) == list(reversed(vocab)) + ["#"]


def test_interactive_seeds_from_counts(specs, tmp_path):
    out = tmp_path / "rl"
    args = ["--out", str(out), "--public-episodes", "3", "--private-episodes", "4"]
    assert build("--lab", "lab3-cartpole", *args) == 0
    seeds = json.loads((out / "labels" / "seeds.json").read_text())
    assert len(seeds["public"]) == 3 and len(seeds["private"]) == 4
    assert len(set(seeds["public"] + seeds["private"])) == 7


def test_stratified_split_balances_every_stratum_and_overall():
    rng = np.random.default_rng(0)
    strata = ["a"] * 5 + ["b"] * 5 + ["c"] * 4
    split = stratified_split(strata, [None] * len(strata), rng)
    assert abs(int((split == 0).sum()) - int((split == 1).sum())) <= 1
    for key in "abc":
        part = split[[i for i, s in enumerate(strata) if s == key]]
        assert abs(int((part == 0).sum()) - int((part == 1).sum())) <= 1


# ---------------------------------------------------------------------------- errors


def refused(capsys, *args: str) -> str:
    assert build(*args) == 1
    return capsys.readouterr().err


def test_missing_file_in_csv_names_the_line(specs, tmp_path, capsys):
    src = faces_csv(tmp_path / "src")
    (tmp_path / "src" / "img" / "LM2.png").unlink()
    err = refused(capsys, "--lab", "lab2-debias", str(src), "--out", str(tmp_path / "o"))
    assert "faces.csv line 8 (img/LM2.png)" in err and "missing file" in err
    assert not (tmp_path / "o").exists()  # nothing half-written


def test_wrong_image_size_names_the_file(specs, tmp_path, capsys):
    src = digits_folder(tmp_path / "digits")
    png(src / "3" / "big.png", 32, "L", 999)
    err = refused(capsys, "--lab", "lab2-mnist", str(src), "--out", str(tmp_path / "o"))
    assert "3/big.png" in err and "32x32" in err and "28x28" in err


def test_unknown_label_and_group(specs, tmp_path, capsys):
    src = digits_folder(tmp_path / "digits")
    png(src / "cat" / "0.png", 28, "L", 1000)
    err = refused(capsys, "--lab", "lab2-mnist", str(src), "--out", str(tmp_path / "o"))
    assert "folder cat" in err and "unknown label" in err

    csv_path = faces_csv(tmp_path / "faces")
    text = csv_path.read_text().replace("img/LF1.png,1,LF", "img/LF1.png,1,XX")
    csv_path.write_text(text)
    err = refused(capsys, "--lab", "lab2-debias", str(csv_path), "--out", str(tmp_path / "o"))
    assert "line 3 (img/LF1.png)" in err and "unknown group 'XX'" in err


def test_duplicate_across_splits_is_refused(specs, tmp_path, capsys):
    csv_path = faces_csv(tmp_path / "faces", with_split=True)
    shutil.copy(tmp_path / "faces/img/LF0.png", tmp_path / "faces/img/LF3.png")
    err = refused(capsys, "--lab", "lab2-debias", str(csv_path), "--out", str(tmp_path / "o"))
    assert "line 5 (img/LF3.png) duplicates" in err and "line 2 (img/LF0.png)" in err
    assert "across the public and private splits" in err


def test_bad_csv_header_and_bad_split(specs, tmp_path, capsys):
    csv_path = faces_csv(tmp_path / "faces")
    csv_path.write_text("file,label\nimg/LF0.png,1\n")
    err = refused(capsys, "--lab", "lab2-debias", str(csv_path), "--out", str(tmp_path / "o"))
    assert "header must be path,label[,group][,split]" in err
    csv_path.write_text("path,label,split\nimg/LF0.png,1,test\n")
    err = refused(capsys, "--lab", "lab2-debias", str(csv_path), "--out", str(tmp_path / "o"))
    assert "line 2" in err and "split 'test'" in err
    csv_path.write_text("path,label\n../outside.png,1\n")
    err = refused(capsys, "--lab", "lab2-debias", str(csv_path), "--out", str(tmp_path / "o"))
    assert "relative to the CSV's folder" in err


def test_npz_with_wrong_shape(specs, tmp_path, capsys):
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 32, 32), np.uint8), y=np.arange(4))
    out = str(tmp_path / "o")
    err = refused(capsys, "--lab", "lab2-mnist", str(tmp_path / "s.npz"), "--out", out)
    assert "s.npz" in err and "[32, 32, 1]" in err


def test_abc_character_outside_the_given_vocabulary(specs, tmp_path, capsys):
    src = tmp_path / "t.abc"
    src.write_text("X:1\nABC\n\nX:2\nAB%C\n")
    (tmp_path / "v.json").write_text(json.dumps(list("\nX:12ABC")))
    args = ["--lab", "lab1-music", str(src), "--out", str(tmp_path / "o")]
    err = refused(capsys, *args, "--vocab", str(tmp_path / "v.json"), "--seq-len", "12")
    assert "line 5 column 3" in err and "'%'" in err


def test_repeated_tune_is_refused(specs, tmp_path, capsys):
    src = tmp_path / "t.abc"
    src.write_text("X:1\nABC|\n\nX:2\nDEF|\n\nX:3\nABC|\n")
    err = refused(capsys, "--lab", "lab1-music", str(src), "--out", str(tmp_path / "o"))
    assert "tune #3 repeats tune #1" in err


def test_verify_refuses_a_tampered_set(specs, tmp_path, capsys):
    out = tmp_path / "set"
    build("--lab", "lab2-mnist", str(digits_folder(tmp_path / "d")), "--out", str(out))
    assert main(["dataset", "verify", str(out)]) == 0
    capsys.readouterr()
    # The demo spec's checksum is per installation, and none is recorded next to this set.
    assert main(["dataset", "verify", str(out), "--lab", "lab2-mnist"]) == 1
    assert "records no checksum" in capsys.readouterr().err
    (tmp_path / "checksums.json").write_text(json.dumps({"lab2-mnist-v1": "sha256:" + "0" * 64}))
    assert main(["dataset", "verify", str(out), "--lab", "lab2-mnist"]) == 1
    assert "differs from lab lab2-mnist" in capsys.readouterr().err
    labels = out / "labels" / "labels.npz"
    data = bytearray(labels.read_bytes())
    data[len(data) // 2] ^= 0xFF
    labels.write_bytes(bytes(data))
    assert main(["dataset", "verify", str(out)]) == 1
    assert "labels/labels.npz" in capsys.readouterr().err
    (out / "inputs" / "extra.npy").write_bytes(b"x")
    _, problems = verify_set(out)
    assert any("inputs/extra.npy: not in the manifest" in p for p in problems)


def test_local_checksum_is_read_from_the_hidden_dir(tmp_path, monkeypatch):
    """Demo specs say checksum = "local": the installation's own build records it."""
    from grader.errors import PlatformError
    from grader.hidden import record_local_checksum, resolve_dataset
    from grader.specs import load_spec

    monkeypatch.delenv("GRADER_SPECS_DIR", raising=False)
    spec = load_spec("lab3-cartpole")
    assert spec.data.checksum == "local"
    hidden = tmp_path / "hidden"
    args = ["--public-episodes", "2", "--private-episodes", "2"]
    assert build("--lab", "lab3-cartpole", "--out", str(hidden / "lab3-cartpole-v1"), *args) == 0
    with pytest.raises(PlatformError, match="records no checksum"):
        resolve_dataset(spec, hidden)
    record_local_checksum(hidden, "lab3-cartpole-v1", "sha256:" + "1" * 64)
    with pytest.raises(PlatformError, match="does not match"):
        resolve_dataset(spec, hidden)
    record_local_checksum(hidden, "lab3-cartpole-v1", compute_checksum(hidden / "lab3-cartpole-v1"))
    assert resolve_dataset(spec, hidden).verified
    # The platform's own record (an uploaded set) overrides the spec.
    with pytest.raises(PlatformError, match="does not match"):
        resolve_dataset(spec, hidden, expected="sha256:" + "2" * 64)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    import struct
    import zlib

    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _bomb_png(width: int, height: int, extra: bytes = b"") -> bytes:
    """A valid PNG header announcing `width` x `height` pixels, in a few hundred bytes."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + extra
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + _png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (lambda: _bomb_png(100_000, 100_000), "decompression bomb"),
        (lambda: _bomb_png(12_000, 10_000), "decompression bomb"),  # Pillow only warns
        (
            lambda: _bomb_png(
                28, 28, _png_chunk(b"zTXt", b"k\0\0" + __import__("zlib").compress(b"a" * 2**25))
            ),
            "not a readable image",
        ),
        (lambda: b"\x89PNG" + b"\0" * (33 * 2**20), "are refused"),
    ],
    ids=["pixels", "pixels-below-error", "text-chunk", "oversize-file"],
)
def test_a_hostile_source_image_is_refused_with_its_name(specs, tmp_path, capsys, content, message):
    src = digits_folder(tmp_path / "digits")
    (src / "7" / "bomb.png").write_bytes(content())
    err = refused(capsys, "--lab", "lab2-mnist", str(src), "--out", str(tmp_path / "o"))
    assert "7/bomb.png" in err and message in err
    assert "Traceback" not in err


def test_an_npz_whose_header_claims_a_huge_array_is_refused(specs, tmp_path, capsys):
    import io
    import zipfile

    header = {"descr": "<f4", "fortran_order": False, "shape": (10**9, 28, 28, 1)}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(tmp_path / "bomb.npz", "w") as zf:
        zf.writestr("x.npy", b"\x93NUMPY\x01\x00" + buffer.getvalue()[8:])
        zf.writestr("y.npy", b"")
    err = refused(
        capsys, "--lab", "lab2-mnist", str(tmp_path / "bomb.npz"), "--out", str(tmp_path / "o")
    )
    assert "bomb.npz" in err and "decompression bomb" in err


def xray_csv(root: Path, rows: int = 8) -> Path:
    """Grey 64x64 images, every other one positive with a mask marking a 10x10 block."""
    lines = [["path", "label", "mask"]]
    for i in range(rows):
        png(root / "img" / f"{i}.png", 64, "L", 500 + i)
        mask = ""
        if i % 2:
            block = np.zeros((64, 64), np.uint8)
            block[i : i + 10, 20:30] = 255
            Image.fromarray(block, "L").save(root / "img" / f"{i}-mask.png")
            mask = f"img/{i}-mask.png"
        lines.append([f"img/{i}.png", str(i % 2), mask])
    path = root / "xrays.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(lines)
    return path


def test_csv_region_masks_become_labels_never_inputs(specs, tmp_path):
    src = xray_csv(tmp_path / "src")
    out = tmp_path / "set"
    assert build("--lab", "lab2-pneumothorax", str(src), "--out", str(out)) == 0
    labels = labels_of(out)
    assert set(labels) == {"y", "split", "mask"}
    assert [p.name for p in (out / "inputs").iterdir()] == ["images.npy"]
    images = np.load(out / "inputs" / "images.npy")
    for image, y, mask in zip(images, labels["y"], labels["mask"], strict=True):
        source = next(
            i
            for i in range(8)
            if np.array_equal(
                np.asarray(Image.open(src.parent / f"img/{i}.png")), image[..., 0] * 255
            )
        )
        assert y == source % 2  # rows are shuffled; each keeps its label and its mask
        expected = np.zeros((64, 64), np.uint8)
        if y:
            expected[source : source + 10, 20:30] = 1
        assert np.array_equal(mask, expected)


def test_masks_are_refused_where_they_do_not_belong(specs, tmp_path, capsys):
    src = xray_csv(tmp_path / "src")
    text = src.read_text()
    out = str(tmp_path / "o")
    src.write_text(text.replace("img/2.png,0,", "img/2.png,0,img/1-mask.png"))
    err = refused(capsys, "--lab", "lab2-pneumothorax", str(src), "--out", out)
    assert "line 4 (img/2.png)" in err and "label 0" in err
    Image.fromarray(np.zeros((64, 64), np.uint8), "L").save(src.parent / "img/1-mask.png")
    src.write_text(text)
    err = refused(capsys, "--lab", "lab2-pneumothorax", str(src), "--out", out)
    assert "line 3 (img/1.png)" in err and "marks no pixel" in err
    png(src.parent / "img" / "1-mask.png", 32, "L", 1)
    err = refused(capsys, "--lab", "lab2-pneumothorax", str(src), "--out", out)
    assert "mask is 32x32" in err
    src.write_text(text.replace("img/1-mask.png", "../1-mask.png"))
    err = refused(capsys, "--lab", "lab2-pneumothorax", str(src), "--out", out)
    assert "relative to the CSV's folder" in err
    faces = faces_csv(tmp_path / "faces")
    faces.write_text(faces.read_text().replace("path,label,group", "path,label,group,mask"))
    err = refused(capsys, "--lab", "lab2-debias", str(faces), "--out", out)
    assert "takes no region masks" in err
    assert not (tmp_path / "o").exists()
