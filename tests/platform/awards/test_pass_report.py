"""The course pass report: labs completed per each lab's rule, final project, attendance."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from awards.pass_report import pass_report
from courses.models import Completion
from factories import (
    EditionFactory,
    EnrollmentFactory,
    LabFactory,
    PitchBallotFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    UserFactory,
)
from projects.models import PaperReview, ReviewStatus
from projects.services import ProjectError, pitch_attendance_mark
from submissions.models import Entry, Participant, Status


def _entry(user, lab, status):
    participant, _ = Participant.objects.get_or_create(lab=lab, user=user)
    return Entry.objects.create(
        lab=lab,
        user=user,
        participant=participant,
        file="x",
        original_name="x.py",
        size_bytes=1,
        sha256="0" * 64,
        kind="code",
        status=status,
    )


@pytest.fixture
def course(db):
    edition = EditionFactory(is_current=True)
    scored_lab = LabFactory(edition=edition, spec_id="lab1-music", position=1)
    submitted_lab = LabFactory(
        edition=edition, spec_id="lab3-pong", position=2, completion=Completion.SUBMITTED
    )
    return edition, scored_lab, submitted_lab


def test_each_requirement_is_checked(course):
    edition, scored_lab, submitted_lab = course
    ada, bob, cy, dee = (UserFactory(username=n) for n in ("ada", "bob", "cy", "dee"))
    for user in (ada, bob, cy, dee):
        EnrollmentFactory(edition=edition, user=user, attended=user.username != "dee")
    # ada: everything, via a pitch that a judge scored after the session (issue 12: a ballot
    # counts as a pitch only once the session date has passed, or staff mark attendance).
    ProjectSettingsFactory(edition=edition, pitches_start_at=timezone.now() - timedelta(days=1))
    _entry(ada, scored_lab, Status.SCORED)
    _entry(ada, submitted_lab, Status.FAILED)  # a failed entry still counts as submitted here
    group = ProjectGroupFactory(edition=edition, members=[ada, dee])
    PitchBallotFactory(group=group)
    # bob: a failed entry does not complete a lab that needs a score; review passed.
    _entry(bob, scored_lab, Status.FAILED)
    _entry(bob, submitted_lab, Status.SCORED)
    PaperReview.objects.create(edition=edition, user=bob, status=ReviewStatus.PASS)
    # cy: a platform error is refunded, not a submission; a failed review does not count.
    _entry(cy, scored_lab, Status.SCORED)
    _entry(cy, submitted_lab, Status.ERROR)
    PaperReview.objects.create(edition=edition, user=cy, status=ReviewStatus.FAIL)
    # dee: the labs and the pitch, but no attendance.
    _entry(dee, scored_lab, Status.SCORED)
    _entry(dee, submitted_lab, Status.TIMEOUT)

    labs, rows = pass_report(edition)
    assert [lab.spec_id for lab in labs] == ["lab1-music", "lab3-pong"]
    by_name = {row.username: row for row in rows}
    assert by_name["ada"].labs == {"lab1-music": True, "lab3-pong": True}
    assert by_name["ada"].project == "pitch presented" and by_name["ada"].passed
    assert by_name["bob"].labs == {"lab1-music": False, "lab3-pong": True}
    assert by_name["bob"].project == "paper review passed" and not by_name["bob"].passed
    assert by_name["cy"].labs == {"lab1-music": True, "lab3-pong": False}
    assert by_name["cy"].project == "" and not by_name["cy"].passed
    assert by_name["dee"].labs_done and by_name["dee"].project and not by_name["dee"].passed


def test_a_pitch_without_a_complete_ballot_is_not_presented(course):
    edition, *_ = course
    user = UserFactory()
    EnrollmentFactory(edition=edition, user=user, attended=True)
    group = ProjectGroupFactory(edition=edition, members=[user])
    PitchBallotFactory(group=group, clarity=None)
    _, rows = pass_report(edition)
    assert rows[0].project == ""


def test_pass_report_csv_defuses_a_formula_name(course, client_as):
    edition, _, _ = course
    user = UserFactory(
        username="eve2", first_name=' =HYPERLINK("https://evil.example")', last_name=""
    )
    EnrollmentFactory(edition=edition, user=user)
    csv_text = client_as("staff").get(reverse("pass-report"), {"format": "csv"}).content.decode()
    assert 'eve2,"\'=HYPERLINK(""https://evil.example"")",' in csv_text


def test_pass_report_page_and_csv_for_staff(course, client_as):
    edition, scored_lab, _ = course
    user = UserFactory(username="=cmd|calc", first_name="Eve", last_name="E")
    EnrollmentFactory(edition=edition, user=user)
    client = client_as("staff")
    page = client.get(reverse("pass-report")).content.decode()
    assert "Eve E" in page and "not yet" in page
    csv_text = client.get(reverse("pass-report"), {"format": "csv"}).content.decode()
    lines = csv_text.splitlines()
    assert (
        lines[0] == "username,name,affiliation,lab1-music,lab3-pong,final project,attended,result"
    )
    assert lines[1].startswith("'=cmd|calc,Eve E,")
    assert lines[1].endswith(",no,no,no,no,not yet")


def test_a_pitch_is_presented_only_at_the_session(course, staff):
    """Item 6: a complete ballot before the session is not a presented pitch; staff marking
    attendance at the session is, and so is a ballot completed once the session began."""
    edition, _, _ = course
    ada, bob = UserFactory(username="ada"), UserFactory(username="bob")
    for user in (ada, bob):
        EnrollmentFactory(edition=edition, user=user)
    config = ProjectSettingsFactory(
        edition=edition,
        signup_deadline=timezone.now() - timedelta(days=2),
        slides_deadline=timezone.now() - timedelta(days=1),
        pitches_start_at=timezone.now() + timedelta(days=3),
    )
    scored = ProjectGroupFactory(edition=edition, members=[ada])
    PitchBallotFactory(group=scored)
    marked = ProjectGroupFactory(edition=edition, members=[bob])

    def projects():
        return {row.username: row.project for row in pass_report(edition)[1]}

    assert projects() == {"ada": "", "bob": ""}
    # Nobody attends a session before it begins (issue 23).
    with pytest.raises(ProjectError, match="Attendance is marked from when the pitches start"):
        pitch_attendance_mark(group=marked, by=staff)
    config.pitches_start_at = timezone.now() - timedelta(hours=1)
    config.save()
    assert projects() == {"ada": "pitch presented", "bob": ""}
    pitch_attendance_mark(group=marked, by=staff)
    assert projects() == {"ada": "pitch presented", "bob": "pitch presented"}


def test_a_ballot_before_the_pitches_is_refused_and_never_makes_a_pitch(course, judge):
    """Before: a complete ballot was accepted 55 days before the pitch session, and once the
    session date passed it alone marked the group "pitch presented" (issue 23)."""
    from projects.services import ballot_save

    edition, _, _ = course
    ada = UserFactory(username="ada")
    EnrollmentFactory(edition=edition, user=ada, attended=True)
    config = ProjectSettingsFactory(
        edition=edition,
        signup_deadline=timezone.now() - timedelta(days=1),
        pitches_start_at=timezone.now() + timedelta(days=55),
    )
    group = ProjectGroupFactory(edition=edition, members=[ada])
    full = {"novelty": 5, "soundness": 5, "clarity": 5}
    with pytest.raises(ProjectError, match="Pitch scoring opens when the pitches start"):
        ballot_save(judge=judge, group=group, changes=full)
    # A complete ballot that got in before the session (stored earlier) stays no pitch.
    PitchBallotFactory(group=group, judge=judge, updated_at=timezone.now() - timedelta(hours=2))
    config.pitches_start_at = timezone.now() - timedelta(hours=1)
    config.save()

    def project() -> str:
        return pass_report(edition)[1][0].project

    assert project() == ""
    # A ballot given during the pitches is a pitch heard.
    ballot_save(judge=judge, group=group, changes=full)
    assert project() == "pitch presented"
