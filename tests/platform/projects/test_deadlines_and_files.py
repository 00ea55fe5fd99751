"""Deadlines (just before / just after, shown in Eastern time) and what uploads are accepted."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from factories import ProjectGroupFactory, ProjectSettingsFactory
from projects import services
from projects.models import ProjectGroup

# 11:59 pm Eastern (EST, UTC-5) on January 29, 2027.
SIGNUP = datetime(2027, 1, 30, 4, 59, tzinfo=UTC)
SLIDES = datetime(2027, 1, 31, 4, 59, tzinfo=UTC)
REVIEW = datetime(2027, 2, 1, 4, 59, tzinfo=UTC)
JUST_BEFORE = timedelta(seconds=-1)
AT = timedelta(0)

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n3 0 obj << /Type /Page >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"  # noqa: E501
TWO_PAGE_PDF = PDF.replace(
    b"3 0 obj << /Type /Page >>", b"3 0 obj << /Type /Page >> 4 0 obj << /Type /Page >>"
)  # noqa: E501


@pytest.fixture
def config(edition):
    return ProjectSettingsFactory(
        edition=edition, signup_deadline=SIGNUP, slides_deadline=SLIDES, review_deadline=REVIEW
    )


@pytest.fixture
def own_group(config, student):
    group = ProjectGroupFactory(edition=config.edition, members=[student], signed_up_at=None)
    return ProjectGroup.objects.get(pk=group.pk)


@pytest.mark.django_db
def test_pitch_signup_just_before_the_deadline_is_accepted(own_group, student):
    services.pitch_signup(group=own_group, user=student, now=SIGNUP + JUST_BEFORE)
    own_group.refresh_from_db()
    assert own_group.signed_up_at == SIGNUP + JUST_BEFORE


@pytest.mark.django_db
def test_pitch_signup_at_the_deadline_is_refused_with_the_eastern_time(own_group, student):
    with pytest.raises(services.ProjectError) as refused:
        services.pitch_signup(group=own_group, user=student, now=SIGNUP + AT)
    assert str(refused.value) == "Pitch sign-up closed on January 29, 2027, 11:59 pm EST."
    own_group.refresh_from_db()
    assert own_group.signed_up_at is None


@pytest.mark.django_db
def test_group_changes_close_with_pitch_signup(config, student, other_student):
    group = services.group_create(
        edition=config.edition, user=student, name="G", now=SIGNUP + JUST_BEFORE
    )
    invitation = services.invitation_create(
        group=group, inviter=student, username=other_student.username, now=SIGNUP + JUST_BEFORE
    )
    with pytest.raises(services.ProjectError, match="closed on January 29, 2027, 11:59 pm EST"):
        services.invitation_accept(invitation=invitation, user=other_student, now=SIGNUP)
    with pytest.raises(services.ProjectError, match="closed on January 29, 2027, 11:59 pm EST"):
        services.group_create(edition=config.edition, user=other_student, name="H", now=SIGNUP)


@pytest.mark.django_db
@pytest.mark.parametrize(("offset", "accepted"), [(JUST_BEFORE, True), (AT, False)])
def test_slides_deadline(own_group, student, offset, accepted):
    services.pitch_signup(group=own_group, user=student, now=SIGNUP - timedelta(days=1))
    call = lambda: services.slides_submit(  # noqa: E731
        group=own_group, user=student, url="https://slides.example/deck", now=SLIDES + offset
    )
    if accepted:
        call()
        own_group.refresh_from_db()
        assert own_group.slides_url == "https://slides.example/deck"
    else:
        with pytest.raises(services.ProjectError) as refused:
            call()
        assert str(refused.value) == "Slide submission closed on January 30, 2027, 11:59 pm EST."


@pytest.mark.django_db
@pytest.mark.parametrize(("offset", "accepted"), [(JUST_BEFORE, True), (AT, False)])
def test_review_deadline(config, student, offset, accepted):
    call = lambda: services.review_submit(  # noqa: E731
        edition=config.edition,
        user=student,
        paper_title="ResNets",
        upload=SimpleUploadedFile("r.pdf", PDF),
        now=REVIEW + offset,
    )
    if accepted:
        assert call().paper_title == "ResNets"
    else:
        with pytest.raises(services.ProjectError) as refused:
            call()
        assert str(refused.value) == (
            "Paper review submission closed on January 31, 2027, 11:59 pm EST."
        )


@pytest.mark.django_db
def test_the_page_shows_the_deadlines_in_eastern_time(client_as, config, own_group):
    response = client_as("student").get(f"/projects/{config.edition.slug}/")
    text = response.content.decode()
    assert "January 29, 2027, 11:59 pm EST" in text
    assert "January 30, 2027, 11:59 pm EST" in text
    assert "January 31, 2027, 11:59 pm EST" in text


@pytest.mark.django_db
def test_a_late_signup_through_the_page_shows_the_deadline(client_as, edition, student):
    past = datetime(2025, 1, 30, 4, 59, tzinfo=UTC)
    ProjectSettingsFactory(
        edition=edition, signup_deadline=past, slides_deadline=past, review_deadline=past
    )
    group = ProjectGroupFactory(edition=edition, members=[student], signed_up_at=None)
    response = client_as("student").post(f"/projects/groups/{group.pk}/signup/", follow=True)
    assert "Pitch sign-up closed on January 29, 2025, 11:59 pm EST." in response.content.decode()
    group.refresh_from_db()
    assert group.signed_up_at is None


# --- uploads ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_slides_pdf_upload_is_stored_and_served_to_members(client_as, config, own_group, student):
    services.pitch_signup(group=own_group, user=student, now=SIGNUP - timedelta(days=1))
    services.slides_submit(
        group=own_group,
        user=student,
        upload=SimpleUploadedFile("deck.pdf", PDF),
        now=SLIDES - timedelta(hours=1),
    )
    response = client_as("student").get(f"/projects/groups/{own_group.pk}/slides.pdf")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PDF


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"<html>not a pdf</html>", "not a PDF"),
        (b"PK\x03\x04 a zip renamed to .pdf %%EOF", "not a PDF"),
        (b"%PDF-1.4 truncated upload without an end marker", "not a PDF"),
    ],
)
def test_slides_must_really_be_a_pdf(own_group, student, content, message):
    services.pitch_signup(group=own_group, user=student, now=SIGNUP - timedelta(days=1))
    with pytest.raises(services.ProjectError, match=message):
        services.slides_submit(
            group=own_group,
            user=student,
            upload=SimpleUploadedFile("deck.pdf", content),
            now=SLIDES - timedelta(hours=1),
        )
    own_group.refresh_from_db()
    assert not own_group.slides_file


@pytest.mark.django_db
def test_slides_size_is_capped(own_group, student, monkeypatch):
    monkeypatch.setattr(services, "MAX_SLIDES_BYTES", len(PDF) - 1)
    services.pitch_signup(group=own_group, user=student, now=SIGNUP - timedelta(days=1))
    with pytest.raises(services.ProjectError, match="at most"):
        services.slides_submit(
            group=own_group,
            user=student,
            upload=SimpleUploadedFile("deck.pdf", PDF),
            now=SLIDES - timedelta(hours=1),
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url", ["http://slides.example/deck", "javascript:alert(1)", "ftp://x/y", "https://a b"]
)
def test_slide_links_must_be_https(own_group, student, url):
    services.pitch_signup(group=own_group, user=student, now=SIGNUP - timedelta(days=1))
    with pytest.raises(services.ProjectError, match="https"):
        services.slides_submit(
            group=own_group, user=student, url=url, now=SLIDES - timedelta(hours=1)
        )


@pytest.mark.django_db
def test_slides_need_a_signed_up_group_and_a_member(own_group, student, other_student):
    with pytest.raises(services.ProjectError, match="Sign up"):
        services.slides_submit(
            group=own_group, user=student, url="https://x.example", now=SIGNUP - timedelta(days=1)
        )
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.slides_submit(
            group=own_group,
            user=other_student,
            url="https://x.example",
            now=SIGNUP - timedelta(days=1),
        )


@pytest.mark.django_db
def test_a_review_must_be_one_page(config, student):
    with pytest.raises(services.ProjectError, match="at most 1 page"):
        services.review_submit(
            edition=config.edition,
            user=student,
            paper_title="P",
            upload=SimpleUploadedFile("r.pdf", TWO_PAGE_PDF),
            now=REVIEW - timedelta(days=1),
        )


@pytest.mark.django_db
def test_a_slides_extension_moves_that_students_deadline_only(
    own_group, student, other_student, staff
):
    """Per-student extensions reach the final-project steps too (issue 12)."""
    from courses.models import Extension
    from courses.services import project_extension_grant

    services.pitch_signup(group=own_group, user=student, now=SIGNUP - timedelta(days=1))
    project_extension_grant(
        edition=own_group.edition,
        user=student,
        step=Extension.Step.SLIDES,
        closes_at=SLIDES + timedelta(days=2),
        reason="hospital",
        by=staff,
    )
    services.slides_submit(
        group=own_group, user=student, url="https://slides.example/late", now=SLIDES + AT
    )
    with pytest.raises(services.ProjectError, match="closed on February 1, 2027"):
        services.slides_submit(
            group=own_group,
            user=student,
            url="https://slides.example/later",
            now=SLIDES + timedelta(days=2),
        )
