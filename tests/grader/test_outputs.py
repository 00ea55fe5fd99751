"""grader.outputs on its own: bounded walks, removal of hostile trees, header-checked arrays."""

from __future__ import annotations

import io
import os
import socket
import stat
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from grader import outputs as O
from grader.protocol import ProtocolError, decode_action

LIMITS = O.TreeLimits(max_bytes=1 << 20)


@pytest.fixture(autouse=True)
def _tidy(tmp_path):
    # pytest's own clean-up of old temporary folders would recurse into the deep trees.
    yield
    for child in tmp_path.iterdir():
        O.remove_tree(child)


def nest(root: Path, depth: int, name: str = "d") -> None:
    """`depth` folders inside each other, made through fds (no path grows)."""
    fd = os.open(root, os.O_RDONLY)
    for _ in range(depth):
        os.mkdir(name, dir_fd=fd)
        deeper = os.open(name, os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = deeper
    os.mkfifo("fifo", dir_fd=fd)
    fd2 = os.open(".", os.O_RDONLY, dir_fd=fd)
    os.close(fd)
    os.fchmod(fd2, 0)  # the deepest folder unreadable too
    os.close(fd2)


def hostile_tree(root: Path, depth: int = 1500) -> Path:
    """An output folder with everything an entry can put there; returns an outside folder
    that links point to (it must survive)."""
    outside = root.parent.parent / f"outside-{root.parent.name}"
    outside.mkdir()
    (outside / "precious").write_text("keep me")
    out = root
    out.mkdir()
    (out / "harness.json").write_text('{"status": "ok"}')
    (out / "sub").mkdir()
    (out / "sub" / "a.npy").write_bytes(b"x" * 100)
    nest(out, depth)
    (out / "locked").mkdir()
    (out / "locked" / "f").write_text("x")
    os.chmod(out / "locked", 0)
    (out / "ro").mkdir()
    (out / "ro" / "f").write_text("x")
    os.chmod(out / "ro", 0o555)
    os.mkfifo(out / "pipe")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(out / "sock"))
    sock.close()
    os.symlink(outside, out / "link-to-dir")
    os.symlink(outside / "precious", out / "link-to-file")
    os.symlink("/dev/zero", out / "zero")
    (out / ("n" * 255)).write_text("a long name")
    return outside


def test_collect_refuses_1500_nested_folders_without_recursing(tmp_path):
    hostile_tree(tmp_path / "out")
    reason = O.collect(tmp_path / "out", tmp_path / "dest", LIMITS)
    assert reason == "your entry's output folder has folders nested more than 16 deep"


def test_collect_copies_plain_files_only(tmp_path):
    out = tmp_path / "out"
    outside = hostile_tree(out, depth=20)
    with_limits = O.TreeLimits(max_bytes=1 << 20, max_depth=30)
    assert O.collect(out, tmp_path / "dest", with_limits) is None
    dest = tmp_path / "dest"
    got = sorted(p.name for p in dest.iterdir())
    # Folders come along (empty if unreadable: not as root); links, FIFOs, sockets never.
    assert {"harness.json", "sub", "n" * 255, "d"} <= set(got)
    assert not {"pipe", "sock", "link-to-dir", "link-to-file", "zero"} & set(got)
    assert (dest / "sub" / "a.npy").read_bytes() == b"x" * 100
    kinds = {p.name: stat.S_IFMT(p.lstat().st_mode) for p in dest.iterdir()}
    assert set(kinds.values()) <= {stat.S_IFREG, stat.S_IFDIR}
    assert (outside / "precious").read_text() == "keep me"


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        (O.TreeLimits(max_bytes=1 << 40, max_entries=10), "more than 10 files and folders"),
        (O.TreeLimits(max_bytes=1 << 20), "larger than 1 MB in total"),
    ],
)
def test_collect_limits_on_count_and_size(tmp_path, limits, reason):
    out = tmp_path / "out"
    out.mkdir()
    for i in range(20):
        (out / f"f{i}").write_bytes(b"")
    with open(out / "sparse", "wb") as f:
        f.truncate(50 << 30)  # 50 GiB declared, nothing written
    got = O.collect(out, tmp_path / "dest", limits)
    assert got is not None and reason in got


def test_remove_tree_removes_everything_and_follows_nothing(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    outside = hostile_tree(work / "out")
    (work / "entry").mkdir()
    (work / "entry" / "submission.py").write_text("x")
    os.chmod(work / "entry" / "submission.py", 0o444)
    os.chmod(work / "entry", 0o555)
    assert O.remove_tree(work) is True
    assert not work.exists()
    assert (outside / "precious").read_text() == "keep me"


def test_remove_tree_goes_deeper_than_path_max(tmp_path):
    # 100 folders of 255-character names: 25 KB of path, six times PATH_MAX.
    root = tmp_path / "deep"
    root.mkdir()
    nest(root, 100, name="n" * 255)
    assert O.remove_tree(root) is True
    assert not root.exists()


def test_remove_tree_of_a_file_or_nothing(tmp_path):
    (tmp_path / "f").write_text("x")
    assert O.remove_tree(tmp_path / "f") and not (tmp_path / "f").exists()
    assert O.remove_tree(tmp_path / "missing")


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(["a", "b", ".rm0", ".rm1", "x" * 40]), min_size=1, max_size=6),
        max_size=12,
    )
)
def test_remove_tree_any_tree(tmp_path_factory, paths):
    # Names that clash with the ones removal gives the folders it moves up included.
    root = tmp_path_factory.mktemp("t") / "root"
    root.mkdir()
    for parts in paths:
        folder = root.joinpath(*parts[:-1])
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / parts[-1]).write_text("x")
        except (NotADirectoryError, FileExistsError, IsADirectoryError):
            continue  # a file where a folder should be, or the other way round
    assert O.remove_tree(root) is True
    assert not root.exists()


# --- arrays -------------------------------------------------------------------------------------


def npy(path: Path, header: dict, data_bytes: int | None = None) -> Path:
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, header)
        if data_bytes is not None:
            f.truncate(f.tell() + data_bytes)
    return path


def test_a_250_mib_boolean_output_is_refused_from_its_header(tmp_path):
    path = npy(
        tmp_path / "logprobs.npy",
        {"descr": "|b1", "fortran_order": False, "shape": (250 * 2**20,)},
        250 * 2**20,
    )
    tracemalloc.start()
    try:
        with pytest.raises(O.OutputsRefused, match=r"expected .*; got \[262144000\]"):
            O.load_npy(path, [(12, 20, 6)], "expected [12, 20, 6]", 256 * 2**20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # the data was never read


@pytest.mark.parametrize(
    ("header", "data", "match"),
    [
        ({"descr": "|O", "fortran_order": False, "shape": (3,)}, 24, "plain numeric"),
        ({"descr": [("a", "<f4")], "fortran_order": False, "shape": (3,)}, 12, "plain numeric"),
        ({"descr": "<U4", "fortran_order": False, "shape": (3,)}, 48, "plain numeric"),
        ({"descr": "<c16", "fortran_order": False, "shape": (3,)}, 48, "plain numeric"),
        ({"descr": "<f4", "fortran_order": False, "shape": (3,)}, 8, "header announces"),
        ({"descr": "<f4", "fortran_order": False, "shape": (3,)}, 16, "header announces"),
        ({"descr": "<f4", "fortran_order": False, "shape": (2**40,)}, 0, r"got \[1099511627776\]"),
    ],
)
def test_bad_arrays_are_refused_before_loading(tmp_path, header, data, match):
    path = npy(tmp_path / "p.npy", header, data)
    with pytest.raises(O.OutputsRefused, match=match):
        O.load_npy(path, [(3,)], "expected [3]", 1 << 20)


def test_non_files_are_refused_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo.npy")  # opening it plainly would wait for a writer forever
    with pytest.raises(O.OutputsRefused, match="not a plain file"):
        O.load_npy(tmp_path / "fifo.npy", [(3,)], "x", 1 << 20)
    os.symlink("/etc/hostname", tmp_path / "link.npy")
    with pytest.raises(O.OutputsRefused):
        O.load_npy(tmp_path / "link.npy", [(3,)], "x", 1 << 20)
    with pytest.raises(O.OutputsRefused, match="without writing"):
        O.load_npy(tmp_path / "missing.npy", [(3,)], "x", 1 << 20)


@pytest.mark.parametrize(
    "arr",
    [
        np.arange(12, dtype=np.float32).reshape(3, 4),
        np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        np.arange(12, dtype=">f8").reshape(3, 4),
        np.ones((3, 4), dtype=bool),
        np.arange(12, dtype=np.int16).reshape(3, 4),
    ],
)
def test_honest_arrays_load_exactly_as_numpy_loads_them(tmp_path, arr):
    path = tmp_path / "a.npy"
    np.save(path, arr)
    got = O.load_npy(path, [(3, 4)], "x", 1 << 20)
    want = np.load(path, allow_pickle=False)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert np.array_equal(got, want)


def test_json_is_bounded_and_deep_nesting_is_the_files_fault(tmp_path):
    (tmp_path / "deep.json").write_text("[" * 60000)
    with pytest.raises(O.OutputsRefused, match="not valid JSON"):
        O.read_json(tmp_path / "deep.json")
    (tmp_path / "big.json").write_text(" " * 70000 + "{}")
    with pytest.raises(O.OutputsRefused, match="larger than"):
        O.read_json(tmp_path / "big.json")
    (tmp_path / "ok.json").write_text('{"status": "ok"}')
    assert O.read_json(tmp_path / "ok.json") == {"status": "ok"}


def test_a_policy_frame_announcing_a_huge_array_is_refused_from_its_header():
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (2**45,)}
    )
    with pytest.raises(ProtocolError, match="elements"):
        decode_action(buf.getvalue(), 2)
    good = io.BytesIO()
    np.save(good, np.array([0.1, 0.9]))
    assert decode_action(good.getvalue(), 2) == 1
