"""Moving the pitch ballots from projects to judging keeps every ballot: only the migration
state moves, the table and its rows stay (forwards and back)."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("projects", "0001_initial"), ("judging", "0001_initial")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_the_move_keeps_every_ballot_and_its_constraints():
    old = _migrate(BEFORE)
    # Only projects and judging go back: the other apps' tables stay as they are now, so
    # their rows are made with today's models (an old User state lacks later columns).
    from accounts.models import User
    from courses.models import Edition

    user = User.objects.create(username="jo", role="judge")
    edition = Edition.objects.create(name="E", slug="e")
    group = old.get_model("projects", "ProjectGroup").objects.create(
        edition_id=edition.pk, name="G"
    )
    old.get_model("projects", "Ballot").objects.create(
        group=group, judge_id=user.pk, novelty=4, soundness=5, clarity=None, comment="=kept"
    )

    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    new = _migrate(latest)
    ballot = new.get_model("judging", "PitchBallot").objects.get()
    assert (ballot.group_id, ballot.judge_id, ballot.novelty, ballot.soundness) == (
        group.pk,
        user.pk,
        4,
        5,
    )
    assert ballot.clarity is None and ballot.comment == "=kept"
    from judging.models import PitchBallot

    assert PitchBallot.objects.get().score is None  # partial: clarity missing
    assert list(group.__class__.objects.get(pk=group.pk).ballots.values_list("novelty")) == [(4,)]

    back = _migrate(BEFORE)
    assert back.get_model("projects", "Ballot").objects.get().comment == "=kept"
    _migrate(latest)
