import stat
import zipfile

import pytest

from grader.entry import EntryRejected, inspect_entry, unpack_entry
from grader.specs import REPO_DIR, parse_spec_file

SPEC = parse_spec_file(REPO_DIR / "lab_specs" / "lab2-mnist.toml")


def _zip(path, members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_single_files_are_recognised(tmp_path):
    _zip(tmp_path / "model.keras", {"config.json": b"{}", "model.weights.h5": b"h"})
    assert inspect_entry(tmp_path / "model.keras", SPEC).kind == "keras"
    (tmp_path / "fake.keras").write_bytes(b"PK fake")
    with pytest.raises(EntryRejected, match="fake.keras is not a Keras model file"):
        inspect_entry(tmp_path / "fake.keras", SPEC)
    (tmp_path / "net.pt2").write_bytes(b"x")
    assert inspect_entry(tmp_path / "net.pt2", SPEC).kind == "torch"
    (tmp_path / "mine.py").write_text("def predict(x): return x")
    info = inspect_entry(tmp_path / "mine.py", SPEC)
    assert (info.kind, info.main) == ("code", "submission.py")
    (tmp_path / "weights.pkl").write_bytes(b"x")
    with pytest.raises(EntryRejected, match="no entry found"):
        inspect_entry(tmp_path / "weights.pkl", SPEC)


def test_zip_with_top_folder_saved_model_and_songs_unpacks(tmp_path):
    z = _zip(
        tmp_path / "e.zip",
        {
            "mine/sm/saved_model.pb": b"pb",
            "mine/sm/variables/variables.index": b"i",
            "mine/songs.abc": b"X:1\n",
            "__MACOSX/._junk": b"j",
        },
    )
    info = unpack_entry(z, SPEC, tmp_path / "out")
    assert (info.kind, info.main, info.songs) == ("keras", "mine/sm", "mine/songs.abc")
    assert (tmp_path / "out/mine/sm/saved_model.pb").read_bytes() == b"pb"
    assert not (tmp_path / "out/__MACOSX").exists()


def test_code_wins_over_model_files(tmp_path):
    z = _zip(tmp_path / "e.zip", {"submission.py": b"", "a.keras": b"", "b.h5": b""})
    assert inspect_entry(z, SPEC).kind == "code"
    z = _zip(tmp_path / "f.zip", {"a.keras": b"", "b.h5": b""})
    with pytest.raises(EntryRejected, match="several model files"):
        inspect_entry(z, SPEC)


@pytest.mark.parametrize(
    ("name", "message"),
    [("/etc/passwd", "unsafe path"), ("../../x.py", "'..'"), ("a\\..\\b.py", "unsafe path")],
)
def test_unsafe_paths_are_refused(tmp_path, name, message):
    z = _zip(tmp_path / "e.zip", {"submission.py": b"", name: b"x"})
    with pytest.raises(EntryRejected, match=message):
        inspect_entry(z, SPEC)


def test_symlink_member_is_refused(tmp_path):
    path = tmp_path / "e.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("submission.py", "")
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(EntryRejected, match="symbolic link"):
        inspect_entry(path, SPEC)


def test_duplicate_names_are_refused(tmp_path):
    path = tmp_path / "e.zip"
    with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning):
        zf.writestr("submission.py", "a")
        zf.writestr("submission.py", "b")
    with pytest.raises(EntryRejected, match="twice"):
        inspect_entry(path, SPEC)


def test_zip_bomb_is_refused(tmp_path):
    z = _zip(tmp_path / "e.zip", {"submission.py": b"", "zeros.bin": b"\0" * (20 * 2**20)})
    with pytest.raises(EntryRejected, match="zip bomb"):
        inspect_entry(z, SPEC)


def test_member_count_and_size_caps(tmp_path):
    z = _zip(tmp_path / "e.zip", {f"f{i}.txt": b"" for i in range(2001)} | {"submission.py": b""})
    with pytest.raises(EntryRejected, match="2002 files"):
        inspect_entry(z, SPEC)
    small = parse_spec_file(REPO_DIR / "lab_specs" / "lab2-mnist.toml")
    object.__setattr__(small.limits, "entry_mb", 1)
    big = tmp_path / "big.keras"
    big.write_bytes(b"x" * (2 * 2**20))
    with pytest.raises(EntryRejected, match="at most 1 MB"):
        inspect_entry(big, small)


def test_symlink_in_folder_entry_is_refused(tmp_path):
    d = tmp_path / "entry"
    d.mkdir()
    (d / "submission.py").write_text("")
    (d / "secret").symlink_to("/etc/passwd")
    with pytest.raises(EntryRejected, match="symbolic link"):
        inspect_entry(d, SPEC)


def test_kind_not_accepted_by_the_lab(tmp_path):
    spec = parse_spec_file(REPO_DIR / "lab_specs" / "lab2-mnist.toml")
    object.__setattr__(spec, "entry_kinds", ("code",))
    (tmp_path / "m.keras").write_bytes(b"x")
    with pytest.raises(EntryRejected, match="accepts: code"):
        inspect_entry(tmp_path / "m.keras", spec)


def test_bad_zip_and_empty_upload(tmp_path):
    (tmp_path / "e.zip").write_bytes(b"not a zip")
    with pytest.raises(EntryRejected, match="not a readable zip"):
        inspect_entry(tmp_path / "e.zip", SPEC)
    (tmp_path / "m.h5").write_bytes(b"")
    with pytest.raises(EntryRejected, match="empty"):
        inspect_entry(tmp_path / "m.h5", SPEC)


# ------------------------------------------------ notebook checkpoints that cannot be graded


def _hdf5(path, root_attrs):
    import h5py

    with h5py.File(path, "w") as f:
        for key, value in root_attrs.items():
            f.attrs[key] = value
        f.create_dataset("layers/dense/vars/0", data=[[1.0, 2.0]])
    return path


def test_hdf5_without_a_model_config_is_weights_only(tmp_path):
    weights = _hdf5(tmp_path / "model.h5", {"layer_names": [b"dense"], "backend": "tensorflow"})
    with pytest.raises(EntryRejected) as refused:
        inspect_entry(weights, SPEC)
    assert (
        "model.h5 holds weights only (an HDF5 file without a model config)" in refused.value.reason
    )
    assert "model.save('model.keras')" in refused.value.reason
    whole = _hdf5(tmp_path / "whole.h5", {"model_config": '{"class_name": "Sequential"}'})
    assert inspect_entry(whole, SPEC).kind == "keras"
    # Keras 3 names every save_weights file *.weights.h5
    named = _hdf5(tmp_path / "m.weights.h5", {"model_config": "{}"})
    with pytest.raises(EntryRejected, match="holds weights only \\(Keras save_weights\\)"):
        inspect_entry(named, SPEC)


def test_keras_zip_without_config_is_weights_only(tmp_path):
    z = _zip(tmp_path / "m.keras", {"model.weights.h5": b"h", "metadata.json": b"{}"})
    with pytest.raises(EntryRejected, match="m.keras holds weights only"):
        inspect_entry(z, SPEC)


@pytest.fixture(scope="module")
def torch_files(tmp_path_factory):
    import torch

    folder = tmp_path_factory.mktemp("torch")
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    torch.save(net.state_dict(), folder / "state.pth")
    torch.save(net, folder / "whole.pth")
    torch.save(net.state_dict(), folder / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(net, folder / "legacy_whole.pt", _use_new_zipfile_serialization=False)
    torch.jit.trace(net, torch.zeros(1, 1, 28, 28)).save(str(folder / "traced.pt"))
    program = torch.export.export(net, (torch.zeros(1, 1, 28, 28),))
    torch.export.save(program, str(folder / "exported.pt2"))
    return folder


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("state.pth", "state.pth holds weights only (a PyTorch state dict saved with torch.save)"),
        ("legacy.pt", "legacy.pt holds weights only (a PyTorch state dict saved with torch.save)"),
        ("whole.pth", "whole.pth is a pickled PyTorch model (torch.save(model))"),
        ("legacy_whole.pt", "legacy_whole.pt is a pickled PyTorch model"),
    ],
)
def test_torch_save_files_are_refused_without_unpickling(torch_files, name, message):
    with pytest.raises(EntryRejected) as refused:
        inspect_entry(torch_files / name, SPEC)
    assert refused.value.reason.startswith(message)
    assert "torch.jit.trace(model, example_input).save('model.pt')" in refused.value.reason


def test_torchscript_and_torch_export_pass_and_code_beside_weights_wins(torch_files, tmp_path):
    assert inspect_entry(torch_files / "traced.pt", SPEC).kind == "torch"
    assert inspect_entry(torch_files / "exported.pt2", SPEC).kind == "torch"
    # submission.py that rebuilds the model and loads the state dict: the fix, accepted.
    z = _zip(
        tmp_path / "e.zip",
        {"submission.py": b"", "state.pth": (torch_files / "state.pth").read_bytes()},
    )
    assert inspect_entry(z, SPEC).kind == "code"


def test_a_hostile_pickle_is_only_read_never_run(tmp_path):
    import pickle

    class Boom:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Boom(), protocol=2))
    with pytest.raises(EntryRejected, match="pickled PyTorch model"):
        inspect_entry(tmp_path / "evil.pt", SPEC)
    assert not (tmp_path / "pwned").exists()
