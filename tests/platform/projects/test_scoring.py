"""The course's aggregation, checked against fractions worked out by hand."""

import math
from fractions import Fraction as F

import pytest
from django.db import transaction

from accounts.models import Affiliation, Role
from factories import (
    PitchBallotFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    UserFactory,
    pitch_session,
)
from judging.models import PitchBallot
from projects import selectors, services
from projects.scoring import BallotInput, GroupInput, compute_standings
from threads import Elsewhere

A, B, C, D = 1, 2, 3, 4
J1, J2, J3 = 11, 12, 13


def _ballot(group, judge, *scores):
    complete = None not in scores
    return BallotInput(group, judge, F(sum(scores), 3) if complete else None)


GROUPS = [
    GroupInput(A, "Alpha", True),
    GroupInput(B, "Beta", False),
    GroupInput(C, "Gamma", True),
    GroupInput(D, "Delta", True),
]
BALLOTS = [
    _ballot(A, J1, 5, 4, 4),  # 13/3
    _ballot(A, J2, 3, 3, 4),  # 10/3
    _ballot(A, J3, 5, None, 5),  # incomplete: does not count
    _ballot(B, J1, 4, 4, 3),  # 11/3
    _ballot(B, J2, 4, 4, 4),  # 4
    _ballot(C, J1, 2, 3, 3),  # 8/3
    _ballot(C, J2, 1, 2, 2),  # 5/3
    _ballot(C, J3, 5, 5, 5),  # 5
    _ballot(D, J1, 5, 5, 5),  # 5, but Delta has only one complete ballot
    _ballot(D, J2, 5, 5, None),
]


@pytest.fixture
def standings():
    result = compute_standings(GROUPS, BALLOTS, min_judges=2)
    return result, {g.name: g for g in result.groups}


def test_final_scores_are_exact_means_of_judge_means(standings):
    _, by_name = standings
    assert by_name["Alpha"].final == F(23, 6)  # (13/3 + 10/3) / 2
    assert by_name["Beta"].final == F(23, 6)  # (11/3 + 12/3) / 2
    assert by_name["Gamma"].final == F(28, 9)  # (8/3 + 5/3 + 15/3) / 3
    assert by_name["Alpha"].judge_scores == {J1: F(13, 3), J2: F(10, 3)}


def test_equal_fractions_are_a_real_tie_sharing_a_rank(standings):
    result, by_name = standings
    assert (by_name["Alpha"].rank, by_name["Alpha"].tied) == (1, True)
    assert (by_name["Beta"].rank, by_name["Beta"].tied) == (1, True)
    assert (by_name["Gamma"].rank, by_name["Gamma"].tied) == (3, False)
    assert [g.name for g in result.groups] == ["Alpha", "Beta", "Gamma", "Delta"]


def test_incomplete_ballots_do_not_count(standings):
    _, by_name = standings
    assert by_name["Alpha"].judges_counted == 2
    assert by_name["Alpha"].incomplete_ballots == 1


def test_too_few_complete_ballots_is_insufficient_not_ranked(standings):
    _, by_name = standings
    delta = by_name["Delta"]
    assert delta.insufficient and delta.rank is None and not delta.tied
    assert delta.final == 5  # shown to staff, but it does not outrank anyone
    assert not by_name["Gamma"].insufficient


def test_disagreement_is_max_minus_min_judge_score(standings):
    _, by_name = standings
    assert by_name["Alpha"].disagreement == 1
    assert by_name["Beta"].disagreement == F(1, 3)
    assert by_name["Gamma"].disagreement == F(10, 3)


def test_judge_mean_and_spread(standings):
    result, _ = standings
    j1 = result.judges[J1]  # 13/3, 11/3, 8/3, 15/3
    assert j1.count == 4
    assert j1.mean == F(47, 12)
    assert j1.spread == pytest.approx(math.sqrt(107) / 12)
    assert (j1.lowest, j1.highest) == (F(8, 3), F(5))


def test_z_scores_correct_for_a_harsh_and_a_generous_judge():
    # Generous X: P=5, Q=4 (mean 9/2, sd 1/2); harsh Y: P=3, Q=1 (mean 2, sd 1).
    result = compute_standings(
        [GroupInput(1, "P", True), GroupInput(2, "Q", True)],
        [
            _ballot(1, 7, 5, 5, 5),
            _ballot(2, 7, 4, 4, 4),
            _ballot(1, 8, 3, 3, 3),
            _ballot(2, 8, 1, 1, 1),
        ],
        min_judges=2,
    )
    by_name = {g.name: g for g in result.groups}
    assert by_name["P"].mean_z == pytest.approx(1.0)
    assert by_name["Q"].mean_z == pytest.approx(-1.0)
    assert (by_name["P"].z_rank, by_name["Q"].z_rank) == (1, 2)


def test_a_tie_that_floats_would_break_stays_a_tie():
    x_means, y_means = [1, 1, 5 / 3], [1, 4 / 3, 4 / 3]  # both sum to 11/3 exactly
    assert sum(x_means) / 3 != sum(y_means) / 3  # floating point splits them
    result = compute_standings(
        [GroupInput(1, "X", True), GroupInput(2, "Y", True)],
        [
            _ballot(1, 7, 1, 1, 1),
            _ballot(1, 8, 1, 1, 1),
            _ballot(1, 9, 1, 2, 2),
            _ballot(2, 7, 1, 1, 1),
            _ballot(2, 8, 1, 1, 2),
            _ballot(2, 9, 1, 1, 2),
        ],
        min_judges=3,
    )
    assert [(g.final, g.rank, g.tied) for g in result.groups] == [
        (F(11, 9), 1, True),
        (F(11, 9), 1, True),
    ]


# --- the same rules through the database ------------------------------------------------


@pytest.mark.django_db
def test_standings_from_stored_ballots(edition):
    ProjectSettingsFactory(edition=edition, min_judges_per_group=2)
    judges = UserFactory.create_batch(3, role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    mit = UserFactory(affiliation=Affiliation.MIT_STUDENT)
    public = UserFactory(affiliation=Affiliation.PUBLIC)
    alpha = ProjectGroupFactory(edition=edition, name="Alpha", members=[mit], slot=1)
    beta = ProjectGroupFactory(edition=edition, name="Beta", members=[public], slot=2)
    unsigned = ProjectGroupFactory(edition=edition, name="Not pitching", signed_up_at=None)
    for judge, scores in zip(judges, [(5, 4, 4), (3, 3, 4), (5, None, 5)], strict=True):
        PitchBallotFactory(
            group=alpha,
            judge=judge,
            **dict(zip(("novelty", "soundness", "clarity"), scores, strict=True)),
        )
    PitchBallotFactory(group=beta, judge=judges[0], novelty=4, soundness=4, clarity=3)
    PitchBallotFactory(group=beta, judge=judges[1], novelty=4, soundness=4, clarity=4)
    PitchBallotFactory(group=unsigned, judge=judges[0], novelty=1, soundness=1, clarity=1)

    standings = selectors.standings_for(edition)

    rows = [(g.name, g.final, g.rank, g.tied, g.eligible) for g in standings.groups]
    assert rows == [
        ("Alpha", F(23, 6), 1, True, True),
        ("Beta", F(23, 6), 1, True, False),
    ]


@pytest.mark.django_db
def test_ballots_save_one_criterion_at_a_time_and_count_when_complete(edition, judge):
    pitch_session(edition)
    group = ProjectGroupFactory(edition=edition)
    services.ballot_save(judge=judge, group=group, changes={"novelty": 4})
    ballot = PitchBallot.objects.get(judge=judge, group=group)
    assert (ballot.novelty, ballot.soundness, ballot.is_complete, ballot.score) == (
        4,
        None,
        False,
        None,
    )
    services.ballot_save(judge=judge, group=group, changes={"soundness": "5", "clarity": 3})
    services.ballot_save(judge=judge, group=group, changes={"comment": "Great demo"})
    ballot.refresh_from_db()
    assert ballot.scores() == {"novelty": 4, "soundness": 5, "clarity": 3}
    assert ballot.comment == "Great demo"
    assert ballot.score == 4
    assert PitchBallot.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("bad", [0, 6, "3.5", "five", True, 2.5, [3]])
def test_scores_outside_1_to_5_are_refused(edition, judge, bad):
    pitch_session(edition)
    group = ProjectGroupFactory(edition=edition)
    with pytest.raises(services.ProjectError, match="1 to 5"):
        services.ballot_save(judge=judge, group=group, changes={"novelty": bad})
    assert not PitchBallot.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_ballot_saved_while_staff_close_scoring_waits_for_the_close_and_is_refused(
    edition, judge, staff
):
    pitch_session(edition)
    group = ProjectGroupFactory(edition=edition)
    with transaction.atomic():
        services.project_scoring_close(edition=edition, by=staff)
        ballot = Elsewhere(
            lambda: services.ballot_save(judge=judge, group=group, changes={"novelty": 4}),
            services.ProjectError,
        )
        ballot.give_time()  # the close is not committed yet
    assert ballot.outcome() == "Pitch scoring is closed: the final projects are final."
    assert not PitchBallot.objects.exists()
