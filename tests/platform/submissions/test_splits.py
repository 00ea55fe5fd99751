"""One rule for who sees a lab's private split, and every gate follows it."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from factories import scored_entry
from submissions.selectors import visible_metrics
from submissions.splits import PRIVATE, PUBLIC, sees_private, visible_splits

CASES = [  # (persona, revealed, after the deadline, sees private)
    ("student", False, False, False),
    ("student", False, True, False),
    # A reveal holds only after the deadline (issue 12: a deadline moved into the future
    # drops it), so "revealed while open" shows nothing private.
    ("student", True, False, False),
    ("student", True, True, True),
    ("judge", False, False, False),
    ("judge", False, True, True),  # judges judge finished entries on their full report
    ("judge", True, False, False),
    ("staff", False, False, True),
]


def _lab_state(lab, revealed, after):
    lab.private_revealed = revealed
    if after:
        lab.closes_at = timezone.now() - timedelta(minutes=1)
    lab.save()


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "revealed", "after", "sees"), CASES)
def test_the_rule(debias, student, judge, staff, persona, revealed, after, sees):
    _lab_state(debias, revealed, after)
    user = {"student": student, "judge": judge, "staff": staff}[persona]
    assert sees_private(user, debias) is sees
    assert visible_splits(user, debias) == ((PUBLIC, PRIVATE) if sees else (PUBLIC,))


@pytest.mark.django_db
@pytest.mark.parametrize(("persona", "revealed", "after", "sees"), CASES)
def test_the_leaderboard_and_entry_metrics_follow_it(
    debias, student, judge, staff, api_as, persona, revealed, after, sees
):
    entry = scored_entry(student, debias, {"debias_accuracy": 70.0}, {"debias_accuracy": 60.0})
    _lab_state(debias, revealed, after)
    url = reverse("api-leaderboard", args=["lab2-debias"])
    response = api_as(persona).get(url, {"split": "private"})
    assert response.status_code == (200 if sees else 403)
    user = {"student": student, "judge": judge, "staff": staff}[persona]
    shown = visible_metrics(entry, entry.runs.get(), user)
    assert (PRIVATE in shown) is sees
