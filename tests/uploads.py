"""Entries to upload in tests: small code entries and zips built in memory."""

import io
import zipfile

from django.core.files.uploadedfile import SimpleUploadedFile

LEFT = b"def act(observation):\n    return 0\n"
CONTROLLER = (
    b"def act(observation):\n"
    b"    x, v, angle, omega = observation\n"
    b"    return int(angle + 0.5 * omega + 0.01 * x + 0.1 * v > 0)\n"
)


def upload(content: bytes = LEFT, name: str = "submission.py") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def zip_upload(members: dict[str, bytes], name: str = "entry.zip") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for member, data in members.items():
            zf.writestr(member, data)
    return SimpleUploadedFile(name, buffer.getvalue())
