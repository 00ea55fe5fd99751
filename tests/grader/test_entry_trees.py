"""Whatever tree of names a zip holds, intake and unpacking either accept it whole or refuse
it with EntryRejected: an entry-caused failure is a verdict on the entry, never a crash that
the platform would refund (and repeat forever)."""

import io
import struct
import zipfile
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grader.entry import EntryRejected, inspect_entry, unpack_entry
from grader.specs import REPO_DIR, parse_spec_file

SPEC = parse_spec_file(REPO_DIR / "lab_specs" / "lab2-mnist.toml")
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")

# Path parts chosen to collide: the same name as file and folder, case twins, dots, long
# parts, odd characters; "submission.py" so that many trees are otherwise acceptable.
PARTS = st.sampled_from(
    ["data", "Data", "x.txt", "submission.py", ".", "..", "a" * 300, "é", "sub", " ", "~"]
)
NAMES = st.lists(PARTS, min_size=1, max_size=4).map("/".join)
MEMBERS = st.lists(st.tuples(NAMES, st.booleans(), st.binary(max_size=64)), min_size=1, max_size=8)


def _zip_bytes(members: list[tuple[str, bool, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, is_dir, data in members:
            if is_dir:
                zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
            else:
                zf.writestr(zipfile.ZipInfo(name), data)
    return buffer.getvalue()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(members=MEMBERS)
def test_random_zip_trees_are_accepted_whole_or_refused(tmp_path_factory, members):
    folder = tmp_path_factory.mktemp("tree")
    upload = folder / "entry.zip"
    upload.write_bytes(_zip_bytes(members))
    try:
        inspected = inspect_entry(upload, SPEC)
    except EntryRejected:
        return
    info = unpack_entry(upload, SPEC, folder / "unpacked")
    assert info == inspected
    for name in info.files:
        assert (folder / "unpacked" / name).is_file()


def test_a_path_that_is_both_a_file_and_a_folder_is_refused(tmp_path):
    upload = tmp_path / "entry.zip"
    upload.write_bytes(
        _zip_bytes(
            [("submission.py", False, b"x"), ("data", False, b"1"), ("data/x.txt", False, b"2")]
        )
    )
    with pytest.raises(EntryRejected, match="'data' both as a file and as a folder"):
        inspect_entry(upload, SPEC)
    with pytest.raises(EntryRejected):
        unpack_entry(upload, SPEC, tmp_path / "out")


def test_a_name_part_too_long_for_the_file_system_is_refused(tmp_path):
    upload = tmp_path / "entry.zip"
    upload.write_bytes(_zip_bytes([("submission.py", False, b"x"), ("a" * 300, False, b"1")]))
    with pytest.raises(EntryRejected, match="longer than 255 bytes"):
        inspect_entry(upload, SPEC)


def _corrupt_member(data: bytes, payload: bytes) -> bytes:
    """The zip with the first member's compressed bytes overwritten (its CRC no longer
    matches, or its deflate stream is broken): the headers still read fine."""
    start = data.index(payload)
    return data[:start] + bytes(b ^ 0xFF for b in payload) + data[start + len(payload) :]


def test_a_member_whose_data_is_corrupt_is_refused_when_unpacked(tmp_path):
    raw = b"def predict(x):\n    return x\n" * 4
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("submission.py", raw)
    upload = tmp_path / "entry.zip"
    upload.write_bytes(_corrupt_member(buffer.getvalue(), raw))
    inspect_entry(upload, SPEC)  # the headers are fine: only reading the data tells
    with pytest.raises(EntryRejected, match="cannot be unpacked"):
        unpack_entry(upload, SPEC, tmp_path / "out")


def test_a_broken_deflate_stream_is_refused_when_unpacked(tmp_path):
    raw = bytes(range(256)) * 64
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("submission.py", raw)
    packed = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = packed.compress(raw) + packed.flush()
    upload = tmp_path / "entry.zip"
    upload.write_bytes(_corrupt_member(buffer.getvalue(), stream[10:40]))
    with pytest.raises(EntryRejected, match="cannot be unpacked"):
        unpack_entry(upload, SPEC, tmp_path / "out")


def test_a_name_that_is_not_utf_8_though_flagged_so_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("submission.py", b"x")
    data = bytearray(buffer.getvalue())
    # Flag the central directory entry's name as UTF-8 (bit 11) and make it invalid UTF-8.
    central = data.index(b"PK\x01\x02")
    flags = struct.unpack_from("<H", data, central + 8)[0] | 0x800
    struct.pack_into("<H", data, central + 8, flags)
    name_at = central + 46
    data[name_at] = 0xFF
    upload = tmp_path / "entry.zip"
    upload.write_bytes(bytes(data))
    with pytest.raises(EntryRejected):
        inspect_entry(upload, SPEC)
