from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courses.models import Edition
from courses.roster import RosterError, roster_import


class Command(BaseCommand):
    help = (
        "Import a roster CSV (email, name, affiliation; username optional): verifies "
        "affiliations, enrols everyone in the edition, invites every address no account proved."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv_file", type=Path)
        parser.add_argument("--edition", required=True, help="the edition's slug")

    def handle(self, *args, csv_file: Path, edition: str, **options):
        found = Edition.objects.filter(slug=edition).first()
        if found is None:
            raise CommandError(f"No edition '{edition}'.")
        try:
            text = csv_file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {csv_file}: {error}") from None
        try:
            result = roster_import(edition=found, text=text)
        except RosterError as error:
            raise CommandError("Nothing imported:\n" + "\n".join(error.problems)) from None
        self.stdout.write(self.style.SUCCESS(result.summary()))
