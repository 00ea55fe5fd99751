"""Bench fixtures in the fresh database: an edition, one open lab per spec, students, tokens.

Quotas are raised far beyond the course's (a rush sends 20+ entries per student) and no lab
needs a write-up, so every upload is accepted and queued.
"""

from __future__ import annotations

import io
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

from .stack import REPO

sys.path.insert(0, str(REPO / "scripts"))  # the demo data's own helpers (scripts/_common.py)
import demo_build  # noqa: E402
from _common import DATASET_NAMES  # noqa: E402

LABS = tuple(sorted(DATASET_NAMES))  # the demo labs: those the demo data builds
# The trivial entry: a CartPole policy that always pushes left (falls in ~10 steps).
TRIVIAL = b"def act(observation):\n    return 0\n"
ENTRIES_DIR = demo_build.ENTRIES_DIR


def ensure_demo_data(hidden_dir: Path) -> None:
    """Build the demo hidden data and reference entries once, as the tests and the demo do."""
    demo_build.reference_entries(hidden_dir)


def create_course():
    """The current edition with every lab open for a day and near-unlimited quotas."""
    from django.utils import timezone

    from courses.models import Edition, Lab

    now = timezone.now()
    edition = Edition.objects.create(name="Bench", slug="bench", is_current=True)
    for position, spec_id in enumerate(LABS):
        Lab.objects.create(
            edition=edition,
            spec_id=spec_id,
            title=spec_id,
            position=position,
            opens_at=now - timedelta(days=1),
            closes_at=now + timedelta(days=1),
            max_entries_per_day=30000,
            max_entries_total=30000,
            max_upload_mb=200,
            needs_writeup=False,
        )
    return edition


def create_students(edition, count: int, prefix: str = "bench") -> list[tuple[object, str]]:
    """`count` enrolled students, each with its own API token: [(user, token key)]."""
    from accounts.models import User
    from accounts.services import token_create
    from courses.models import Enrollment

    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i:05d}", email="", role="student") for i in range(count)]
    )
    Enrollment.objects.bulk_create([Enrollment(edition=edition, user=u) for u in users])
    return [(u, token_create(user=u, name="bench")[1]) for u in users]


def entry_bytes(path: Path) -> tuple[str, bytes]:
    """An uploadable (file name, content): a folder entry is zipped, a file sent as it is."""
    if path.is_file():
        return path.name, path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for member in sorted(path.rglob("*")):
            if member.is_file():
                zf.write(member, member.relative_to(path).as_posix())
    return f"{path.name}.zip", buffer.getvalue()


def baseline_path(spec_id: str) -> Path:
    import json

    index = json.loads((ENTRIES_DIR / "index.json").read_text())
    return ENTRIES_DIR / index[spec_id]["baseline"]["path"]
