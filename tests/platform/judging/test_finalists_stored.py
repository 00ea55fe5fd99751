"""Finalists are read from the stored private board (ranked when the standings change), not
ranked again on each judging page; prize eligibility is still read live from the account."""

from accounts.models import Affiliation, AffiliationSource
from judging.selectors import finalists_of, prize_standings
from leaderboards.services import board_refresh
from submissions.models import GradingRun


def test_finalists_come_from_the_stored_board_until_it_is_ranked_again(
    finalists, closed_debias, other_student
):
    board_refresh(lab=closed_debias)
    before = [r.row.entry_id for r in finalists_of(closed_debias)]
    assert before == [finalists["student"].pk, finalists["other"].pk]
    # The third student's run changes under the board (no refresh): the judging pages keep
    # reading the stored standings, so the whole lab is not ranked again per request.
    GradingRun.objects.filter(entry=finalists["third"]).update(
        split_metrics={"public": {"mean_group_auc": 0.95}, "private": {"mean_group_auc": 0.99}}
    )
    assert [r.row.entry_id for r in finalists_of(closed_debias)] == before
    # ... while a roster import (no standing changes) makes a finalist eligible at once.
    other_student.affiliation = Affiliation.MIT_STUDENT
    other_student.affiliation_source = AffiliationSource.ROSTER
    other_student.save()
    eligible = {r.finalist.entry_id: r.finalist.eligible for r in prize_standings(closed_debias)}
    assert eligible == {finalists["student"].pk: True, finalists["other"].pk: True}
    board_refresh(lab=closed_debias)
    assert [r.row.entry_id for r in finalists_of(closed_debias)] == [
        finalists["third"].pk,
        finalists["student"].pk,
    ]
