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
    (tmp_path / "model.keras").write_bytes(b"PK fake")
    assert inspect_entry(tmp_path / "model.keras", SPEC).kind == "keras"
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
