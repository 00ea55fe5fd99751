"""Red team: the final projects have no results lock. After the project prizes were
announced, staff can still grant a pitch sign-up extension (an accommodation granted late,
or to the wrong person), and the student who has it may then leave the winning group or
withdraw its pitch (projects' services honour each student's own sign-up deadline): the
announced winners change under the announcement."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Affiliation, Role
from awards import services
from awards.models import Category, Prize
from core.errors import Refused
from courses.services import project_extension_grant
from factories import PitchBallotFactory, ProjectGroupFactory, UserFactory, final_projects
from projects.services import membership_leave

pytestmark = pytest.mark.django_db


def test_no_sign_up_extension_after_the_project_prizes_were_announced(edition, staff):
    final_projects(edition)
    winner = UserFactory(affiliation=Affiliation.MIT_STUDENT)
    group = ProjectGroupFactory(edition=edition, name="Alpha", members=[winner])
    PitchBallotFactory(
        group=group, judge=UserFactory(role=Role.JUDGE), novelty=5, soundness=5, clarity=5
    )
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="GPU", position=1)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    assert services.awards_announce(snapshot=snapshot, by=staff, confirmed=True)

    try:
        project_extension_grant(
            edition=edition,
            user=winner,
            step="signup",
            closes_at=timezone.now() + timedelta(days=2),
            reason="was ill during sign-up",
            by=staff,
        )
    except Refused:
        return  # refused, with the reason: fixed
    with pytest.raises(Refused):
        membership_leave(group=group, user=winner)
