"""Create a demo course edition with every lab in lab_specs/ and demo people to click through."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Affiliation, Role, User
from courses.models import EASTERN, Edition, Enrollment, Lab
from grader.specs import load_all_specs

DEMO_PASSWORD = "demo-6s191"  # noqa: S105  (printed on purpose: these are demo logins)
ET = ZoneInfo(EASTERN)

# The course's own deadlines and prizes (IAP: labs due in late January, 11:59 pm ET).
LAB_SETUP = {
    "lab1-music": (datetime(2027, 1, 26, 23, 59, tzinfo=ET), "Headphones"),
    "lab2-mnist": (datetime(2027, 1, 27, 23, 59, tzinfo=ET), ""),
    "lab2-debias": (datetime(2027, 1, 27, 23, 59, tzinfo=ET), "Monitor"),
    "lab3-cartpole": (datetime(2027, 1, 28, 23, 59, tzinfo=ET), ""),
    "lab3-pong": (datetime(2027, 1, 28, 23, 59, tzinfo=ET), "Drone"),
}
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
            Lab.objects.update_or_create(
                edition=edition,
                spec_id=spec.id,
                defaults={
                    "title": spec.title,
                    "description": spec.description,
                    "position": position,
                    "opens_at": OPENS_AT,
                    "closes_at": closes_at,
                    "prize": prize,
                },
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
                },
            )
            user.set_password(DEMO_PASSWORD)
            user.save()
            if role == Role.STUDENT:
                Enrollment.objects.get_or_create(edition=edition, user=user)
            logins.append((username, role.label, affiliation.label))
        self.stdout.write(self.style.SUCCESS(f"Demo edition '{edition.name}' is ready."))
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for username, role, affiliation in logins:
            self.stdout.write(f"  {username:<16} {role:<8} {affiliation}")
