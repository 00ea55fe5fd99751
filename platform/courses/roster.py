"""Roster import: staff verify affiliations and enrol people from a CSV.

Columns (a header row; order free): `email` and/or `username`, `name`, `affiliation`
(registered MIT student, MIT affiliate, MIT listener). Each row creates or updates an account,
marks its affiliation verified by the roster and enrols it in the edition; people without an
account are created and invited by email. A file with any bad row imports nothing: every bad
row is named with its line number.
"""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template.defaultfilters import pluralize

from accounts.invitations import invitation_send, person_invite
from accounts.models import Affiliation, AffiliationSource, Role, User

from .models import Edition, Enrollment

AFFILIATION_NAMES = {
    "registered mit student": Affiliation.MIT_STUDENT,
    "mit student": Affiliation.MIT_STUDENT,
    "mit_student": Affiliation.MIT_STUDENT,
    "student": Affiliation.MIT_STUDENT,
    "mit affiliate": Affiliation.MIT_AFFILIATE,
    "mit_affiliate": Affiliation.MIT_AFFILIATE,
    "affiliate": Affiliation.MIT_AFFILIATE,
    "mit listener": Affiliation.MIT_LISTENER,
    "mit_listener": Affiliation.MIT_LISTENER,
    "listener": Affiliation.MIT_LISTENER,
}
MAX_ROWS = 5000


class RosterError(Exception):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class RosterRow:
    line: int
    email: str
    username: str
    name: str
    affiliation: str


@dataclass
class RosterResult:
    created: list[User] = field(default_factory=list)
    updated: list[User] = field(default_factory=list)
    enrolled: int = 0

    def summary(self) -> str:
        invited, updated = len(self.created), len(self.updated)
        return (
            f"{invited} new account{pluralize(invited)} invited, "
            f"{updated} account{pluralize(updated)} updated, {self.enrolled} newly enrolled."
        )


def roster_parse(text: str) -> list[RosterRow]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = {(h or "").strip().lower() for h in reader.fieldnames or []}
    missing = {"name", "affiliation"} - headers
    if missing or not headers & {"email", "username"}:
        raise RosterError(
            ["Line 1: the header needs columns email and/or username, name, affiliation."]
        )
    rows: list[RosterRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(rows) + len(problems) >= MAX_ROWS:
            raise RosterError([f"More than {MAX_ROWS} rows: split the file."])
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue  # a blank line
        email, username = values.get("email", ""), values.get("username", "")
        affiliation = AFFILIATION_NAMES.get(" ".join(values.get("affiliation", "").lower().split()))
        row_problems = []
        if not email and not username:
            row_problems.append("needs an email or a username")
        if email:
            try:
                validate_email(email)
            except ValidationError:
                row_problems.append(f"'{email}' is not an email address")
        if affiliation is None:
            row_problems.append(
                f"unknown affiliation '{values.get('affiliation', '')}' (use registered MIT "
                "student, MIT affiliate or MIT listener)"
            )
        key = (email or username).lower()
        if key in seen:
            row_problems.append(f"repeats line {seen[key]}")
        seen.setdefault(key, line)
        if row_problems:
            problems.append(f"Line {line}: " + "; ".join(row_problems) + ".")
            continue
        assert affiliation is not None  # a missing one is a row problem above
        rows.append(RosterRow(line, email, username, values.get("name", ""), affiliation))
    if problems:
        raise RosterError(problems)
    return rows


def _find(row: RosterRow) -> User | None:
    if row.email:
        user = User.objects.filter(email__iexact=row.email).first()
        if user is not None:
            return user
    if row.username:
        return User.objects.filter(username__iexact=row.username).first()
    return None


@transaction.atomic
def roster_import(*, edition: Edition, text: str) -> RosterResult:
    """All or nothing: a row that cannot be imported rolls back every other row."""
    rows = roster_parse(text)
    result = RosterResult()
    problems = []
    for row in rows:
        user = _find(row)
        if user is None and not row.email:
            problems.append(f"Line {row.line}: no account '{row.username}' and no email to invite.")
            continue
        if user is None:
            user, _ = person_invite(
                email=row.email, name=row.name, role=Role.STUDENT, username=row.username
            )
            result.created.append(user)
            invitation_send(user, f"a student of {edition.name}")
        else:
            result.updated.append(user)
        user.affiliation = row.affiliation
        user.affiliation_source = AffiliationSource.ROSTER
        user.save(update_fields=["affiliation", "affiliation_source"])
        _, enrolled = Enrollment.objects.get_or_create(edition=edition, user=user)
        result.enrolled += enrolled
    if problems:
        raise RosterError(problems)  # the atomic block undoes the rows already written
    return result
