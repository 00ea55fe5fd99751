"""Roster import: verifies affiliations, enrols, invites; a bad row imports nothing."""

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.models import Affiliation, AffiliationSource, User
from courses.models import Enrollment
from courses.roster import RosterError, RosterResult, roster_import
from factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def self_declared(db):
    return UserFactory(
        username="sam",
        email="sam@mit.edu",
        affiliation=Affiliation.MIT_STUDENT,
        affiliation_source=AffiliationSource.SELF,
    )


def test_self_declared_affiliation_is_never_prize_eligible(self_declared):
    assert not self_declared.affiliation_verified
    assert not self_declared.lab_prize_eligible
    assert not self_declared.is_registered_mit_student


def test_roster_verifies_existing_and_invites_new_people(
    self_declared, edition, django_capture_on_commit_callbacks
):
    text = (
        "email,name,affiliation\n"
        "SAM@mit.edu,Sam Student,registered MIT student\n"
        "lee@mit.edu,Lee Listener,MIT listener\n"
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = roster_import(edition=edition, text=text)
    assert [u.username for u in result.updated] == ["sam"]
    self_declared.refresh_from_db()
    assert self_declared.affiliation_source == AffiliationSource.ROSTER
    assert self_declared.lab_prize_eligible and self_declared.is_registered_mit_student
    lee = User.objects.get(email="lee@mit.edu")
    assert (lee.first_name, lee.last_name, lee.affiliation) == ("Lee", "Listener", "mit_listener")
    assert not lee.has_usable_password()
    assert lee.lab_prize_eligible  # listeners win lab prizes (course rule) ...
    assert not lee.is_registered_mit_student  # ... but do not make a group prize-eligible
    assert Enrollment.objects.filter(edition=edition).count() == 2
    [invitation] = mail.outbox
    assert invitation.to == ["lee@mit.edu"]
    assert "/accounts/password/reset/key/" in invitation.body
    # Running it again changes nothing and invites nobody twice.
    with django_capture_on_commit_callbacks(execute=True):
        again = roster_import(edition=edition, text=text)
    assert again.created == [] and again.enrolled == 0 and len(mail.outbox) == 1


def test_a_bad_row_imports_nothing_and_names_every_bad_row(self_declared, edition):
    text = (
        "email,username,name,affiliation\n"
        "sam@mit.edu,,Sam,registered MIT student\n"
        "not-an-email,,X,MIT affiliate\n"
        "new@mit.edu,,New,professor\n"
        ",ghost,Ghost,MIT listener\n"
    )
    with pytest.raises(RosterError) as error:
        roster_import(edition=edition, text=text)
    assert (
        error.value.problems[0].startswith("Line 3:") and "not an email" in error.value.problems[0]
    )
    assert error.value.problems[1].startswith("Line 4:") and "professor" in error.value.problems[1]
    self_declared.refresh_from_db()
    assert self_declared.affiliation_source == AffiliationSource.SELF
    assert not Enrollment.objects.exists()
    # A row naming an account that does not exist, without an email: all rolled back.
    with pytest.raises(RosterError, match="Line 3: no account 'ghost'"):
        roster_import(
            edition=edition,
            text=(
                "email,username,name,affiliation\nsam@mit.edu,,Sam,mit student\n,ghost,G,listener\n"
            ),
        )
    self_declared.refresh_from_db()
    assert self_declared.affiliation_source == AffiliationSource.SELF
    assert not Enrollment.objects.exists()


def test_header_and_duplicates_are_checked(edition):
    with pytest.raises(RosterError, match="Line 1: the header"):
        roster_import(edition=edition, text="who,what\na,b\n")
    with pytest.raises(RosterError, match="Line 3: repeats line 2"):
        roster_import(
            edition=edition, text="email,name,affiliation\na@x.edu,A,listener\nA@x.edu,A,listener\n"
        )


def test_management_command_imports_or_refuses(tmp_path, edition, self_declared):
    good = tmp_path / "roster.csv"
    good.write_text("email,name,affiliation\nsam@mit.edu,Sam,MIT affiliate\n")
    call_command("import_roster", str(good), "--edition", edition.slug)
    self_declared.refresh_from_db()
    assert self_declared.affiliation == "mit_affiliate" and self_declared.affiliation_verified
    bad = tmp_path / "bad.csv"
    bad.write_text("email,name,affiliation\nsam@mit.edu,Sam,alien\n")
    with pytest.raises(CommandError, match="Nothing imported:\nLine 2: unknown affiliation"):
        call_command("import_roster", str(bad), "--edition", edition.slug)


def test_staff_page_imports_and_invites_judges(client_as, persona, edition, self_declared):
    name, client = persona
    response = client.get(reverse("staff-people"))
    assert response.status_code == {"anonymous": 302, "staff": 200}.get(name, 403)
    if name != "staff":
        return
    from django.core.files.uploadedfile import SimpleUploadedFile

    csv_file = SimpleUploadedFile("r.csv", b"email,name,affiliation\nsam@mit.edu,Sam,mit student\n")
    response = client.post(
        reverse("staff-people"),
        {"action": "roster", "edition": edition.pk, "roster": csv_file},
        follow=True,
    )
    assert b"1 account updated" in response.content
    bad = SimpleUploadedFile("r.csv", b"email,name,affiliation\nsam@mit.edu,Sam,martian\n")
    response = client.post(
        reverse("staff-people"), {"action": "roster", "edition": edition.pk, "roster": bad}
    )
    assert b"Nothing was imported" in response.content and b"Line 2" in response.content
    response = client.post(
        reverse("staff-people"),
        {"action": "judges", "judges": "ada@example.edu, Ada Lovelace\n"},
        follow=True,
    )
    assert b"Invited 1 judge" in response.content
    ada = User.objects.get(email="ada@example.edu")
    assert ada.is_judge and not ada.has_usable_password()


def test_the_summary_counts_in_words(student, other_student):
    one = RosterResult(created=[student], updated=[other_student], enrolled=1)
    assert one.summary() == "1 new account invited, 1 account updated, 1 newly enrolled."
    two = RosterResult(created=[student, other_student], updated=[], enrolled=0)
    assert two.summary() == "2 new accounts invited, 0 accounts updated, 0 newly enrolled."
