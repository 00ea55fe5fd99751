"""The student, judge and staff pages as plain forms, the CSV export, schedule, reviews, API."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import Affiliation, Role
from courses.models import format_in_zone
from factories import (
    PitchBallotFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    UserFactory,
    pitch_session,
)
from judging.models import PitchBallot
from projects.models import PaperReview, ProjectGroup, ReviewStatus

PDF = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\n%%EOF\n"


@pytest.mark.django_db
def test_a_student_forms_a_group_invites_and_signs_up_through_the_pages(
    client_as, config, student, other_student
):
    me, friend = client_as("student"), client_as("other_student")
    home = f"/projects/{config.edition.slug}/"
    me.post(f"{home}groups/new/", {"name": "Gradient Gang"})
    group = ProjectGroup.objects.get(name="Gradient Gang")
    me.post(f"/projects/groups/{group.pk}/invite/", {"username": "stu2"})
    page = friend.get(home).content.decode()
    assert "invited you to <strong>Gradient Gang</strong>" in page
    invitation = group.invitations.get()
    friend.post(f"/projects/invitations/{invitation.pk}/accept/")
    me.post(f"/projects/groups/{group.pk}/signup/", {"title": "Tiny transformers"})

    group.refresh_from_db()
    assert set(group.member_users()) == {student, other_student}
    assert group.is_signed_up and group.title == "Tiny transformers"
    page = me.get(home).content.decode()
    assert "signed up" in page and "prize eligible" in page


@pytest.mark.django_db
def test_a_student_submits_a_review_and_staff_mark_it(client_as, config, student):
    client_as("student").post(
        f"/projects/{config.edition.slug}/review/",
        {"paper_title": "Dropout", "file": SimpleUploadedFile("r.pdf", PDF)},
    )
    review = PaperReview.objects.get(user=student)
    assert review.status == ReviewStatus.SUBMITTED and not review.satisfies_requirement
    assert (
        client_as("student")
        .post(f"/projects/reviews/{review.pk}/mark/", {"status": "pass"})
        .status_code
        == 403
    )
    client_as("staff").post(f"/projects/reviews/{review.pk}/mark/", {"status": "pass"})
    review.refresh_from_db()
    assert review.satisfies_requirement
    page = client_as("student").get(f"/projects/{config.edition.slug}/").content.decode()
    assert "Dropout" in page and "Pass" in page and "not eligible for grand prizes" in page
    assert client_as("other_student").get(f"/projects/reviews/{review.pk}/file/").status_code == 404


@pytest.mark.django_db
def test_a_judge_scores_with_the_plain_form_and_moves_to_the_next_pitch(client_as, edition, judge):
    pitch_session(edition)
    first = ProjectGroupFactory(edition=edition, name="First", slot=1)
    second = ProjectGroupFactory(edition=edition, name="Second", slot=2)
    sheet = client_as("judge").get(f"/projects/groups/{first.pk}/score/").content.decode()
    assert "Pitch 1 of 2" in sheet and "Novelty and impact" in sheet
    response = client_as("judge").post(
        f"/projects/groups/{first.pk}/score/",
        {
            "novelty": "4",
            "soundness": "5",
            "clarity": "3",
            "comment": "clear",
            "next": f"/projects/groups/{second.pk}/score/",
        },
    )
    assert response.status_code == 302 and response.url == f"/projects/groups/{second.pk}/score/"
    ballot = PitchBallot.objects.get(judge=judge, group=first)
    assert (ballot.scores(), ballot.comment) == (
        {"novelty": 4, "soundness": 5, "clarity": 3},
        "clear",
    )
    sheet = client_as("judge").get(f"/projects/groups/{first.pk}/score/").content.decode()
    assert 'value="4" checked' in sheet


@pytest.mark.django_db
@pytest.mark.parametrize(
    "target", ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_the_score_sheet_does_not_follow_an_off_site_next(client_as, edition, judge, target):
    pitch_session(edition)
    group = ProjectGroupFactory(edition=edition, name="First", slot=1)
    response = client_as("judge").post(
        f"/projects/groups/{group.pk}/score/", {"novelty": "4", "next": target}
    )
    assert response.status_code == 302 and response.url == f"/projects/groups/{group.pk}/score/"
    assert PitchBallot.objects.get(judge=judge, group=group).novelty == 4


@pytest.mark.django_db
def test_the_ballot_api_saves_as_you_go(api_as, edition, judge):
    pitch_session(edition)
    group = ProjectGroupFactory(edition=edition)
    api = api_as("judge")
    url = f"/api/projects/groups/{group.pk}/ballot/"
    assert api.post(url, {"novelty": 5}, format="json").json()["complete"] is False
    done = api.post(url, {"soundness": 4, "clarity": 4}, format="json").json()
    assert (done["complete"], done["score"]) == (True, "13/3")
    refused = api.post(url, {"clarity": 9}, format="json")
    assert refused.status_code == 400 and "1 to 5" in refused.json()["detail"]
    assert PitchBallot.objects.get().clarity == 4


@pytest.mark.django_db
def test_the_ballot_api_accepts_a_token(edition, judge):
    from rest_framework.test import APIClient

    from accounts import services as account_services

    pitch_session(edition)
    group = ProjectGroupFactory(edition=edition)
    _, key = account_services.token_create(user=judge, name="phone")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.post(
        f"/api/projects/groups/{group.pk}/ballot/", {"novelty": 2}, format="json"
    )
    assert response.status_code == 200
    assert PitchBallot.objects.get(judge=judge).novelty == 2


@pytest.mark.django_db
def test_staff_dashboard_shows_progress_and_standings(client_as, edition, staff):
    ProjectSettingsFactory(edition=edition, min_judges_per_group=2)
    j1 = UserFactory(username="judge-a", role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    j2 = UserFactory(username="judge-b", role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    mit = UserFactory(affiliation=Affiliation.MIT_STUDENT)
    alpha = ProjectGroupFactory(edition=edition, name="Alpha", slot=1, members=[mit])
    beta = ProjectGroupFactory(edition=edition, name="Beta", slot=2)
    PitchBallotFactory(group=alpha, judge=j1, novelty=5, soundness=4, clarity=4)
    PitchBallotFactory(group=alpha, judge=j2, novelty=3, soundness=3, clarity=4)
    PitchBallotFactory(group=beta, judge=j1, novelty=4, soundness=None, clarity=None)

    page = client_as("staff").get(f"/projects/{edition.slug}/staff/").content.decode()

    assert "3.833 (23/6)" in page  # Alpha: (13/3 + 10/3) / 2, as the awards show it
    assert "insufficient judges" in page  # Beta: no complete ballot
    assert "(+1 incomplete)" in page
    assert "eligible" in page and "not eligible" in page
    judge_b_row = page[page.index('data-judge="judge-b"') :].split("</tr>")[0]
    assert "Beta" in judge_b_row.split('class="remaining"')[1]
    judge_a_row = page[page.index('data-judge="judge-a"') :].split("</tr>")[0]
    assert "1/2" in judge_a_row and "½" in judge_a_row


@pytest.mark.django_db
def test_ties_are_marked_for_staff(client_as, edition):
    ProjectSettingsFactory(edition=edition, min_judges_per_group=1)
    for name in ("Left", "Right"):
        PitchBallotFactory(group=ProjectGroupFactory(edition=edition, name=name))
    page = client_as("staff").get(f"/projects/{edition.slug}/staff/").content.decode()
    assert page.count(">tie</span>") == 2


@pytest.mark.django_db
def test_csv_export_has_every_ballot(client_as, edition):
    group = ProjectGroupFactory(edition=edition, name="Alpha", slot=1)
    PitchBallotFactory(
        group=group, judge__username="jj", novelty=5, soundness=4, clarity=4, comment="a, b"
    )
    PitchBallotFactory(group=group, judge__username="kk", novelty=2, soundness=None, clarity=None)
    response = client_as("staff").get(f"/projects/{edition.slug}/staff/ballots.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert [
        (r["group"], r["judge"], r["novelty"], r["complete"], r["judge_score"], r["comment"])
        for r in rows
    ] == [
        ("Alpha", "jj", "5", "yes", "4.333 (13/3)", "a, b"),  # as on every page
        ("Alpha", "kk", "2", "no", "", ""),
    ]


@pytest.mark.django_db
def test_ballots_csv_defuses_a_formula_group_name_and_comment(client_as, edition):
    evil = '=HYPERLINK("https://evil.example","x")'
    group = ProjectGroupFactory(edition=edition, name=evil, slot=1)
    PitchBallotFactory(group=group, judge__username="jj", novelty=5, comment="@" + evil)
    response = client_as("staff").get(f"/projects/{edition.slug}/staff/ballots.csv")
    (row,) = csv.DictReader(io.StringIO(response.content.decode()))
    assert (row["group"], row["comment"]) == ("'" + evil, "'@" + evil)


@pytest.mark.django_db
def test_staff_generate_and_reorder_the_schedule(client_as, config, staff):
    now = datetime(2027, 1, 1, tzinfo=UTC)
    names = ["Early", "Middle", "Late"]
    groups = [
        ProjectGroupFactory(edition=config.edition, name=n, signed_up_at=now + timedelta(hours=i))
        for i, n in enumerate(names)
    ]
    ProjectGroupFactory(edition=config.edition, name="Not pitching", signed_up_at=None)
    client = client_as("staff")
    client.post(f"/projects/{config.edition.slug}/staff/schedule/")
    order = lambda: list(  # noqa: E731
        ProjectGroup.objects.filter(slot__isnull=False)
        .order_by("slot")
        .values_list("name", flat=True)
    )
    assert order() == names
    client.post(f"/projects/groups/{groups[2].pk}/move/", {"direction": "up"})
    assert order() == ["Early", "Late", "Middle"]
    client.post(f"/projects/groups/{groups[0].pk}/move/", {"direction": "up"})  # already first
    assert order() == ["Early", "Late", "Middle"]
    client.post(f"/projects/{config.edition.slug}/staff/schedule/")  # keeps staff's order
    assert order() == ["Early", "Late", "Middle"]
    assert (
        client_as("judge").post(f"/projects/{config.edition.slug}/staff/schedule/").status_code
        == 403
    )


@pytest.mark.django_db
def test_the_dashboard_schedule_shows_each_slot_start_in_the_edition_zone(client_as, config):
    config.pitches_start_at = datetime(2027, 1, 31, 23, 0, tzinfo=UTC)
    config.save()
    now = datetime(2027, 1, 1, tzinfo=UTC)
    for i, name in enumerate(["Early", "Late"]):
        ProjectGroupFactory(
            edition=config.edition, name=name, signed_up_at=now + timedelta(hours=i)
        )
    client = client_as("staff")
    client.post(f"/projects/{config.edition.slug}/staff/schedule/")
    page = client.get(f"/projects/{config.edition.slug}/staff/").content.decode()
    zone = config.edition.time_zone
    second = config.pitches_start_at + timedelta(minutes=config.pitch_minutes)
    assert format_in_zone(config.pitches_start_at, zone) in page
    assert format_in_zone(second, zone) in page


@pytest.mark.django_db
def test_pitch_slots_are_three_minutes_apart(config):
    config.pitches_start_at = datetime(2027, 1, 31, 18, 0, tzinfo=UTC)
    assert config.slot_starts_at(1) == config.pitches_start_at
    assert config.slot_starts_at(3) == config.pitches_start_at + timedelta(minutes=6)


@pytest.mark.django_db
def test_staff_add_a_conflict_from_the_dashboard(client_as, edition, judge):
    group = ProjectGroupFactory(edition=edition)
    PitchBallotFactory(group=group, judge=judge)
    client_as("staff").post(
        f"/projects/{edition.slug}/staff/conflicts/",
        {"judge": judge.username, "group": group.pk, "reason": "advisor"},
    )
    assert group.conflicts.get().reason == "advisor"
    assert not PitchBallot.objects.filter(judge=judge).exists()
    assert client_as("judge").get(f"/projects/groups/{group.pk}/score/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        "projects/projectsettings",
        "projects/projectgroup",
        "projects/membership",
        "projects/invitation",
        "projects/paperreview",
        "projects/conflict",
        "judging/pitchballot",  # the pitch ballots live in judging
    ],
)
def test_admin_changelists_search_and_filter(client_as, edition, model):
    group = ProjectGroupFactory(edition=edition, name="Findable", members=[UserFactory()])
    PitchBallotFactory(group=group)
    url = f"/admin/{model}/"
    assert client_as("staff").get(url, {"q": "Findable"}).status_code == 200
    assert (
        client_as("staff").get(f"/admin/projects/projectgroup/{group.pk}/change/").status_code
        == 200
    )
    assert client_as("judge").get(url).status_code == 302


@pytest.mark.django_db
def test_staff_mark_a_group_present_from_the_admin(client_as, staff):
    """Attendance at the pitch session is what makes a pitch presented (issue 12 item 6)."""
    group = ProjectGroupFactory(name="Turing Machines")
    pitch_session(group.edition)  # from the session on (issue 23)
    staff.is_staff = staff.is_superuser = True
    staff.save()
    client = client_as("staff")
    client.force_login(staff)
    client.post(
        "/admin/projects/projectgroup/",
        {"action": "mark_present", "_selected_action": [group.pk]},
    )
    group.refresh_from_db()
    assert group.presented_at is not None


@pytest.mark.django_db
def test_judges_read_when_pitch_scoring_opens(client_as, edition, judge):
    config = ProjectSettingsFactory(
        edition=edition, pitches_start_at=timezone.now() + timedelta(days=5)
    )
    group = ProjectGroupFactory(edition=edition, name="Early birds", slot=1)
    client = client_as("judge")
    for url in (f"/projects/{edition.slug}/judging/", f"/projects/groups/{group.pk}/score/"):
        page = client.get(url).content.decode()
        assert "Pitch scoring opens when the pitches start" in page, url
        assert edition.format_time(config.pitches_start_at) in page
    response = client.post(f"/projects/groups/{group.pk}/score/", {"novelty": "4"}, follow=True)
    assert "Pitch scoring opens when the pitches start" in response.content.decode()
    assert not PitchBallot.objects.exists()


# --- staff work without the admin (issue 23) ------------------------------------------------


@pytest.mark.django_db
def test_staff_mark_attendance_and_close_scoring_on_the_dashboard(client_as, edition, staff):
    from projects.models import ProjectSettings

    config = ProjectSettingsFactory(
        edition=edition,
        signup_deadline=timezone.now() - timedelta(days=2),
        slides_deadline=timezone.now() - timedelta(days=1),
        pitches_start_at=timezone.now() + timedelta(days=2),
    )
    group = ProjectGroupFactory(edition=edition, name="Neural Tunes", slot=1)
    client = client_as("staff")
    dashboard = f"/projects/{edition.slug}/staff/"
    page = client.get(dashboard).content.decode()
    # Before the session: both buttons are there, off, with the rule's reason.
    assert "Attendance is marked from when the pitches start" in page
    assert "Pitch scoring can close only after the pitches" in page
    page = client.post(
        f"/projects/groups/{group.pk}/attendance/", {"present": "yes"}, follow=True
    ).content.decode()
    assert "Attendance is marked from when the pitches start" in page
    page = client.post(f"/projects/{edition.slug}/staff/close-scoring/", follow=True)
    assert "Pitch scoring can close only after the pitches" in page.content.decode()
    group.refresh_from_db()
    assert group.presented_at is None and not ProjectSettings.objects.get().scoring_closed_at

    config.pitches_start_at = timezone.now() - timedelta(hours=1)
    config.save()
    page = client.post(
        f"/projects/groups/{group.pk}/attendance/", {"present": "yes"}, follow=True
    ).content.decode()
    group.refresh_from_db()
    assert group.presented_at is not None and "Neural Tunes: marked present" in page
    row = page.split('data-group="Neural Tunes"')[-1].split("</tr>")[0]
    assert ">present</span>" in row and "Undo" in row
    client.post(f"/projects/groups/{group.pk}/attendance/", {"present": "no"})
    group.refresh_from_db()
    assert group.presented_at is None
    page = client.post(f"/projects/{edition.slug}/staff/close-scoring/", follow=True)
    assert "the final projects are final" in page.content.decode()
    assert ProjectSettings.objects.get().scoring_closed_at is not None
    assert 'id="project-phase">final<' in page.content.decode()
    # Judges and students cannot.
    for name in ("judge", "student"):
        response = client_as(name).post(
            f"/projects/groups/{group.pk}/attendance/", {"present": "yes"}
        )
        assert response.status_code == 403
