"""Red team: a re-grade that never produces a verdict (a platform fault after the reaper's
tries, or staff cancelling it) is refunded, so it must not cost the student the score their
entry already had. Today the entry's newest run is the one that counts, scored or not: the
student drops off the board (and out of the prizes) because the platform failed."""

import pytest

from factories import scored_entry
from submissions.models import Participant, Status
from submissions.services.runs import entry_regrade, run_transition

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("outcome", [Status.ERROR, Status.CANCELLED])
def test_a_regrade_that_ends_without_a_verdict_keeps_the_earlier_score(
    mnist, student, staff, outcome
):
    entry = scored_entry(student, mnist, {"accuracy": 90.0}, {"accuracy": 91.0})
    scored_run = entry.runs.get()
    participant = Participant.objects.get(lab=mnist, user=student)
    assert participant.standing_run_id == scored_run.pk

    regrade = entry_regrade(entry=entry, by=staff)
    assert run_transition(regrade.pk, outcome, note="worker lost three times")

    participant.refresh_from_db()
    assert participant.standing_run_id == scored_run.pk, (
        f"a re-grade ending {outcome} (refunded: not the entry's doing) removed the student's "
        "scored standing"
    )
