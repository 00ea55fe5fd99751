import pytest


def _png_bytes(width=4, height=3) -> bytes:
    """A real (tiny, grey) PNG."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def _store_zip(entry, members: dict[str, bytes]) -> None:
    """Write the entry's stored file as a zip of `members`, where the platform keeps it."""
    import io
    import zipfile
    from pathlib import Path

    from django.conf import settings

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    path = Path(settings.MEDIA_ROOT) / entry.file.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


@pytest.fixture
def closed_debias(debias):
    from datetime import timedelta

    from django.utils import timezone

    debias.opens_at = timezone.now() - timedelta(days=10)
    debias.closes_at = timezone.now() - timedelta(hours=1)
    debias.save()
    return debias


@pytest.fixture
def finalists(closed_debias, student, other_student, make_user, judge, staff):
    """Three students on the closed debias lab; judges score the top 2; `judge` is assigned."""
    from factories import scored_entry
    from judging import services

    third = make_user(username="third")

    def auc(value):  # lab2-debias ranks (and criterion 1 reads) the mean group ROC AUC
        return {"mean_group_auc": value}

    entries = {
        "student": scored_entry(student, closed_debias, auc(0.70), auc(0.96)),
        "other": scored_entry(other_student, closed_debias, auc(0.60), auc(0.85)),
        "third": scored_entry(third, closed_debias, auc(0.95), auc(0.50)),
    }
    services.lab_judging_configure(lab=closed_debias, finalists=2, by=staff)
    services.judge_assign(lab=closed_debias, judge=judge, by=staff)
    return entries


@pytest.fixture
def png():
    return _png_bytes


@pytest.fixture
def store_zip():
    return _store_zip
