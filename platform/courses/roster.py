"""Roster import: staff verify affiliations and enrol people from a CSV.

Columns (a header row; order free): `email`, `name`, `affiliation` (registered MIT student,
MIT affiliate, MIT listener), optionally `username` (the name a new account gets, when free).
Each row creates or updates an account, marks its affiliation verified by the roster and
enrols it in the edition; people without an account are created and invited by email. A file
with any bad row imports nothing: every bad row is named with its line number.

A row vouches for a person only through an address that person has proven: it updates the
account that verified the row's email, else it invites the address (accounts.invitations).
A username proves nothing (anyone can sign up first under a student's likely username), so
it never selects an account.
"""

import csv
import io
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template.defaultfilters import pluralize

from accounts.invitations import invitation_send, person_invite, proven_owner
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


def roster_parse(text: str, max_rows: int = MAX_ROWS) -> list[RosterRow]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    headers = {(h or "").strip().lower() for h in reader.fieldnames or []}
    if {"email", "name", "affiliation"} - headers:
        raise RosterError(
            ["Line 1: the header needs columns email, name, affiliation (username optional)."]
        )
    rows: list[RosterRow] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if len(rows) + len(problems) >= max_rows:
            raise RosterError([f"More than {max_rows} rows: split the file."])
        values = {(k or "").strip().lower(): (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue  # a blank line
        email, username = values.get("email", ""), values.get("username", "")
        affiliation = AFFILIATION_NAMES.get(" ".join(values.get("affiliation", "").lower().split()))
        row_problems = []
        if not email:
            # The roster vouches for whoever proved they read the address, never for a name.
            row_problems.append("needs an email (a username alone does not say who the person is)")
        else:
            try:
                validate_email(email)
            except ValidationError:
                row_problems.append(f"'{email}' is not an email address")
        if affiliation is None:
            row_problems.append(
                f"unknown affiliation '{values.get('affiliation', '')}' (use registered MIT "
                "student, MIT affiliate or MIT listener)"
            )
        if email and email.lower() in seen:
            row_problems.append(f"repeats line {seen[email.lower()]}")
        if email:
            seen.setdefault(email.lower(), line)
        if row_problems:
            problems.append(f"Line {line}: " + "; ".join(row_problems) + ".")
            continue
        assert affiliation is not None  # a missing one is a row problem above
        rows.append(RosterRow(line, email, username, values.get("name", ""), affiliation))
    if problems:
        raise RosterError(problems)
    return rows


@transaction.atomic
def roster_import(*, edition: Edition, text: str, max_rows: int = MAX_ROWS) -> RosterResult:
    """All or nothing: a row that cannot be imported rolls back every other row."""
    rows = roster_parse(text, max_rows)
    result = RosterResult()
    for row in rows:
        user = proven_owner(row.email)
        if user is None:
            # Nobody proved the address yet: the account is made (or an unproven one reset)
            # for whoever reads it, and the invitation goes there.
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
    return result
