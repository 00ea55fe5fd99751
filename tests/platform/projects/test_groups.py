"""Group size, one group per person, invitations, eligibility, and pitch-or-review."""

import threading

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, close_old_connections, connection

from accounts.models import Affiliation, Role
from factories import EditionFactory, ProjectGroupFactory, ProjectSettingsFactory, UserFactory
from projects import services
from projects.models import Invitation, InvitationStatus, Membership, ProjectGroup

ONE_PAGE_PDF = b"%PDF-1.4\n1 0 obj << /Type /Page >> endobj\ntrailer\n%%EOF\n"


def _invite(group, inviter, *users):
    return [
        services.invitation_create(group=group, inviter=inviter, username=u.username) for u in users
    ]


@pytest.mark.django_db
def test_a_group_is_formed_by_invitation_and_acceptance(config, student, other_student):
    group = services.group_create(edition=config.edition, user=student, name="Deep Dreamers")
    [invitation] = _invite(group, student, other_student)
    assert not Membership.objects.filter(user=other_student).exists()

    services.invitation_accept(invitation=invitation, user=other_student)

    assert set(group.member_users()) == {student, other_student}
    invitation.refresh_from_db()
    assert invitation.status == InvitationStatus.ACCEPTED


@pytest.mark.django_db
def test_only_the_invitee_can_accept_and_only_members_can_invite(config, student, other_student):
    group = services.group_create(edition=config.edition, user=student, name="G")
    outsider = UserFactory()
    with pytest.raises(PermissionDenied):
        services.invitation_create(group=group, inviter=outsider, username=other_student.username)
    [invitation] = _invite(group, student, other_student)
    with pytest.raises(PermissionDenied):
        services.invitation_accept(invitation=invitation, user=outsider)


@pytest.mark.django_db
def test_group_holds_at_most_five(config):
    founder, *others = UserFactory.create_batch(6)
    group = services.group_create(edition=config.edition, user=founder, name="Full")
    invitations = _invite(group, founder, *others)  # six invited, room for four more
    for invitation, user in zip(invitations[:4], others[:4], strict=True):
        services.invitation_accept(invitation=invitation, user=user)
    with pytest.raises(services.ProjectError, match="full"):
        services.invitation_accept(invitation=invitations[4], user=others[4])
    assert group.memberships.count() == 5
    with pytest.raises(services.ProjectError, match="at most 5"):
        services.invitation_create(group=group, inviter=founder, username=UserFactory().username)


@pytest.mark.django_db
def test_one_group_per_person_per_edition(config, student, other_student):
    services.group_create(edition=config.edition, user=student, name="A")
    with pytest.raises(services.ProjectError, match="already in a project group"):
        services.group_create(edition=config.edition, user=student, name="B")
    group_b = services.group_create(edition=config.edition, user=other_student, name="B")
    with pytest.raises(services.ProjectError, match="already in a project group"):
        _invite(group_b, other_student, student)
    # The database refuses it too, whatever code path tries.
    with pytest.raises(IntegrityError):
        Membership.objects.create(edition=config.edition, group=group_b, user=student)


@pytest.mark.django_db
def test_the_same_person_may_join_a_group_in_another_edition(config, student):
    services.group_create(edition=config.edition, user=student, name="A")
    other = ProjectSettingsFactory(edition=EditionFactory())
    services.group_create(edition=other.edition, user=student, name="A")
    assert Membership.objects.filter(user=student).count() == 2


@pytest.mark.django_db
def test_accepting_one_invitation_cancels_the_others(config, student):
    founders = UserFactory.create_batch(2)
    groups = [
        services.group_create(edition=config.edition, user=f, name=f"G{i}")
        for i, f in enumerate(founders)
    ]
    first, second = (_invite(g, f, student)[0] for g, f in zip(groups, founders, strict=True))
    services.invitation_accept(invitation=first, user=student)
    second.refresh_from_db()
    assert second.status == InvitationStatus.CANCELLED
    with pytest.raises(services.ProjectError, match="already cancelled"):
        services.invitation_accept(invitation=second, user=student)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("affiliations", "eligible"),
    [
        ([Affiliation.MIT_STUDENT], True),
        ([Affiliation.PUBLIC, Affiliation.MIT_STUDENT], True),
        ([Affiliation.MIT_AFFILIATE, Affiliation.MIT_LISTENER], False),
        ([Affiliation.PUBLIC] * 5, False),
    ],
)
def test_a_group_is_prize_eligible_only_with_a_registered_mit_student(
    edition, affiliations, eligible
):
    members = [UserFactory(affiliation=a) for a in affiliations]
    group = ProjectGroupFactory(edition=edition, members=members)
    assert ProjectGroup.objects.get(pk=group.pk).is_prize_eligible is eligible


@pytest.mark.django_db
def test_a_student_does_a_pitch_group_or_a_review_not_both(config, student, other_student):
    services.review_submit(
        edition=config.edition,
        user=student,
        paper_title="Attention is all you need",
        upload=SimpleUploadedFile("r.pdf", ONE_PAGE_PDF),
    )
    with pytest.raises(services.ProjectError, match="either a pitch group or a review"):
        services.group_create(edition=config.edition, user=student, name="X")
    group = services.group_create(edition=config.edition, user=other_student, name="Y")
    with pytest.raises(services.ProjectError, match="paper review"):
        _invite(group, other_student, student)
    with pytest.raises(services.ProjectError, match="either a pitch group or a review"):
        services.review_submit(
            edition=config.edition,
            user=other_student,
            paper_title="P",
            upload=SimpleUploadedFile("r.pdf", ONE_PAGE_PDF),
        )


@pytest.mark.django_db
def test_the_last_member_leaving_removes_the_group(config, student):
    group = services.group_create(edition=config.edition, user=student, name="Solo")
    services.membership_leave(group=group, user=student)
    assert not ProjectGroup.objects.filter(pk=group.pk).exists()


# --- concurrency: real threads, real transactions ----------------------------------------


def _in_threads(calls):
    """Run each call in its own thread and connection, released together; collect outcomes."""
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def work(index, call):
        try:
            barrier.wait(timeout=10)
            call()
            outcomes[index] = "ok"
        except services.ProjectError as error:
            outcomes[index] = str(error)
        except Exception as error:  # surfaced in the assertion message
            outcomes[index] = f"unexpected {type(error).__name__}: {error}"
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes


@pytest.mark.django_db(transaction=True)
def test_six_concurrent_acceptances_fill_a_group_of_one_to_exactly_five():
    config = ProjectSettingsFactory()
    founder, *joiners = UserFactory.create_batch(7)
    group = services.group_create(edition=config.edition, user=founder, name="Race")
    invitations = _invite(group, founder, *joiners)

    outcomes = _in_threads(
        [
            lambda inv=inv, user=user: services.invitation_accept(invitation=inv, user=user)
            for inv, user in zip(invitations, joiners, strict=True)
        ]
    )

    assert outcomes.count("ok") == 4, outcomes
    assert sorted(o for o in outcomes if o != "ok") == ["Race is full (5 people)."] * 2
    assert Membership.objects.filter(group=group).count() == 5
    assert Invitation.objects.filter(status=InvitationStatus.ACCEPTED).count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_user_accepting_two_groups_at_once_joins_exactly_one():
    config = ProjectSettingsFactory()
    student = UserFactory()
    founders = UserFactory.create_batch(2)
    invitations = []
    for i, founder in enumerate(founders):
        group = services.group_create(edition=config.edition, user=founder, name=f"G{i}")
        invitations += _invite(group, founder, student)

    outcomes = _in_threads(
        [
            lambda inv=inv: services.invitation_accept(invitation=inv, user=student)
            for inv in invitations
        ]
    )

    assert outcomes.count("ok") == 1, outcomes
    assert Membership.objects.filter(user=student).count() == 1
    [refused] = [o for o in outcomes if o != "ok"]
    assert refused in {
        "This invitation was already cancelled.",
        "You are already in a project group in this edition.",
    }


# --- issue 12: judges are never group members ---------------------------------------------


def test_a_judge_cannot_create_join_or_be_invited_to_a_group(config, judge):
    from projects.services import ProjectError, group_create, invitation_accept, invitation_create

    edition = config.edition
    student = UserFactory()
    group = group_create(edition=edition, user=student, name="Turing Machines")
    with pytest.raises(ProjectError, match="judges cannot be group members"):
        group_create(edition=edition, user=judge, name="Judges")
    with pytest.raises(ProjectError, match="judges cannot be group members"):
        invitation_create(group=group, inviter=student, username=judge.username)
    # An invitation made before the person became a judge cannot be accepted either.
    judge.role = Role.STUDENT
    judge.save()
    invitation = invitation_create(group=group, inviter=student, username=judge.username)
    judge.role = Role.JUDGE
    judge.save()
    with pytest.raises(ProjectError, match="judges cannot be group members"):
        invitation_accept(invitation=invitation, user=judge)


def test_staff_are_warned_of_a_group_every_judge_is_conflicted_with(config, judge):
    from projects.selectors import groups_without_judges
    from projects.services import conflict_declare

    group = ProjectGroupFactory(edition=config.edition, name="Turing Machines")
    assert groups_without_judges(config.edition) == []
    conflict_declare(judge=judge, group=group, reason="my student")
    assert groups_without_judges(config.edition) == [group]
