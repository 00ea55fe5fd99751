"""Roster import: verifies affiliations, enrols, invites; a bad row imports nothing."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts.invitations import judge_invite
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
    first, second, third = error.value.problems
    assert first.startswith("Line 3:") and "not an email" in first
    assert second.startswith("Line 4:") and "professor" in second
    # A username alone names nobody: a row needs the address it vouches for.
    assert third.startswith("Line 5:") and "needs an email" in third
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


# --- a roster row vouches for a person only through an address they proved (issue 23) ------


def _signed_up(username: str, email: str) -> User:
    """Someone who signed up (a password, a self-declared affiliation) and never clicked the
    verification link sent to `email`."""
    user = User.objects.create_user(
        username=username,
        email=email,
        password="squatters-pw-1",
        affiliation=Affiliation.MIT_STUDENT,
        affiliation_source=AffiliationSource.SELF,
    )
    EmailAddress.objects.create(user=user, email=email, verified=False, primary=True)
    return user


def test_a_username_squatter_is_not_the_roster_student(edition, django_capture_on_commit_callbacks):
    # Someone signed up first under the student's likely username, with their own address.
    squatter = UserFactory(
        username="tbeaver",
        email="squatter@example.org",
        affiliation=Affiliation.MIT_STUDENT,
        affiliation_source=AffiliationSource.SELF,
    )
    text = "email,username,name,affiliation\ntbeaver@mit.edu,tbeaver,Tim Beaver,mit student\n"
    with django_capture_on_commit_callbacks(execute=True):
        result = roster_import(edition=edition, text=text)
    squatter.refresh_from_db()
    assert not squatter.affiliation_verified and not squatter.is_registered_mit_student
    assert not Enrollment.objects.filter(user=squatter).exists()
    # The real student gets an account of their own (the name was taken) and the invitation.
    [student] = result.created
    assert student != squatter and student.email == "tbeaver@mit.edu"
    assert student.username == "tbeaver2" and student.is_registered_mit_student
    assert Enrollment.objects.filter(edition=edition, user=student).exists()
    assert [m.to for m in mail.outbox] == [["tbeaver@mit.edu"]]


def test_an_account_that_never_proved_the_address_is_reset_for_its_owner(
    edition, django_capture_on_commit_callbacks
):
    # Someone signed up with the student's address (they cannot read its mail) and a password.
    squatter = _signed_up("notreallyada", "ada@mit.edu")
    text = "email,name,affiliation\nada@mit.edu,Ada Lovelace,registered MIT student\n"
    with django_capture_on_commit_callbacks(execute=True):
        roster_import(edition=edition, text=text)
    squatter.refresh_from_db()
    # The password its maker chose is gone; the link sent to the address sets a new one.
    assert not squatter.has_usable_password()
    assert (squatter.first_name, squatter.last_name) == ("Ada", "Lovelace")
    assert EmailAddress.objects.get(user=squatter, email="ada@mit.edu").verified
    [invitation] = mail.outbox
    assert invitation.to == ["ada@mit.edu"] and "/accounts/password/reset/key/" in invitation.body
    assert squatter.is_registered_mit_student  # for whoever reads ada@mit.edu's mail


def test_a_proven_address_keeps_its_account_and_password(edition, self_declared):
    roster_import(edition=edition, text="email,name,affiliation\nsam@mit.edu,Sam,listener\n")
    self_declared.refresh_from_db()
    assert self_declared.has_usable_password() and self_declared.affiliation_verified
    assert not mail.outbox  # they log in as before: nothing to set


def test_a_judge_invitation_never_hands_the_role_to_an_unproven_account(
    db, django_capture_on_commit_callbacks
):
    squatter = _signed_up("wannabe", "grace@example.edu")
    with django_capture_on_commit_callbacks(execute=True):
        judge = judge_invite(email="grace@example.edu", name="Grace Hopper")
    assert judge == squatter and judge.is_judge
    judge.refresh_from_db()
    # Before: the address was marked verified and the squatter's password kept, so its maker
    # logged in as a judge.
    assert not judge.has_usable_password() and not judge.check_password("squatters-pw-1")
    [invitation] = mail.outbox
    assert invitation.to == ["grace@example.edu"]
    assert "/accounts/password/reset/key/" in invitation.body


def test_the_summary_counts_in_words(student, other_student):
    one = RosterResult(created=[student], updated=[other_student], enrolled=1)
    assert one.summary() == "1 new account invited, 1 account updated, 1 newly enrolled."
    two = RosterResult(created=[student, other_student], updated=[], enrolled=0)
    assert two.summary() == "2 new accounts invited, 0 accounts updated, 0 newly enrolled."
