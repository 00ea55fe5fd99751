"""Confidence intervals on the leaderboard, and statistical ties from a paired bootstrap."""

from datetime import timedelta

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone

from core.scoring import anchored_tie_groups
from factories import UserFactory, scored_entry_wrong_on
from grader import intervals
from leaderboards.selectors import leaderboard_for
from submissions.splits import PUBLIC

N = 400


def _run(user, lab, wrong: int, n: int = N):
    return scored_entry_wrong_on(user, lab, wrong, n)


@pytest.fixture
def board_of_five(mnist):
    # Wrong on 0, 3, 6, 9, 12 examples: each gap of 3 is noise (a resample misses all three
    # about 5 % of the time), a gap of 6 is not (0.25 %).
    users = [UserFactory(username=f"s{i}", role="student") for i in range(5)]
    for user, wrong in zip(users, (0, 3, 6, 9, 12), strict=True):
        _run(user, mnist, wrong)
    return users


def test_ties_are_anchored_on_the_group_leader(mnist, board_of_five):
    rows = leaderboard_for(mnist, PUBLIC).rows
    assert [r.rank for r in rows] == [1, 2, 3, 4, 5]  # the official ranks are untouched
    # Neighbours 2 and 3 are 3 apart (noise), but 3 is 6 from its would-be leader 1: no chain.
    assert [r.tie_leader for r in rows] == [1, 1, 3, 3, None]


def test_ties_appear_exactly_where_the_paired_test_says(mnist, board_of_five):
    rows = leaderboard_for(mnist, PUBLIC).rows
    outcomes = np.stack([intervals.unpack_outcomes(r.row.outcomes) for r in rows])
    seed = intervals.seed_of(mnist.edition.slug, mnist.spec_id, PUBLIC)
    means = intervals.paired_resampled_means(outcomes, seed)
    leaders = anchored_tie_groups(len(rows), lambda a, b: intervals.differs(means[a], means[b]))
    sizes = {leader: leaders.count(leader) for leader in leaders}
    expected = [leader + 1 if sizes[leader] > 1 else None for leader in leaders]
    assert [r.tie_leader for r in rows] == expected


def test_a_run_scored_on_another_hidden_set_is_never_tied(mnist, make_user):
    _run(make_user(username="a", role="student"), mnist, 0)
    _run(make_user(username="b", role="student"), mnist, 1, n=N + 10)
    assert [r.tie_leader for r in leaderboard_for(mnist, PUBLIC).rows] == [None, None]


def test_anchored_groups_rule():
    scores = [10, 9, 8, 7, 1]
    leaders = anchored_tie_groups(5, lambda a, b: abs(scores[a] - scores[b]) > 2)
    assert leaders == [0, 0, 0, 3, 4]


def test_api_and_page_show_each_metric_with_its_interval(mnist, board_of_five, client_as, api_as):
    data = (
        api_as("student")
        .get(reverse("api-leaderboard", args=[mnist.spec_id]), {"edition": mnist.edition.slug})
        .json()
    )
    first = data["rows"][0]
    assert first["scores"]["accuracy"] == {"value": 1.0, "ci_low": 0.985, "ci_high": 1.0}
    assert [r["statistically_tied_with"] for r in data["rows"]] == [1, 1, 3, 3, None]
    html = client_as("student").get(reverse("leaderboard", args=[mnist.pk])).content.decode()
    assert "[0.985, 1.000]" in html and 'data-tie-leader="3"' in html


def test_after_the_reveal_each_change_shows_and_far_drops_are_flagged(
    mnist, make_user, client_as, api_as
):
    from factories import scored_entry

    # Public order a..f; privately "a" falls from 1st to last, the others move up one.
    users = [make_user(username=name, role="student") for name in "abcdef"]
    for i, user in enumerate(users):
        private = 10.0 if i == 0 else 90.0 - i
        scored_entry(user, mnist, {"accuracy": 90.0 - i}, {"accuracy": private})
    # A reveal holds only once the deadline has passed.
    mnist.opens_at = timezone.now() - timedelta(days=10)
    mnist.closes_at = timezone.now() - timedelta(days=1)
    mnist.private_revealed = True
    mnist.save()
    rows = {r["name"]: r for r in _api_rows(api_as, mnist, "private")}
    assert rows[str(users[0])]["rank_change"] == -5 and rows[str(users[0])]["far_better_in_public"]
    assert (
        rows[str(users[1])]["rank_change"] == 1 and not rows[str(users[1])]["far_better_in_public"]
    )
    html = (
        client_as("student")
        .get(reverse("leaderboard", args=[mnist.pk]), {"split": "private"})
        .content.decode()
    )
    assert html.count("public ≫ private") == 1 and 'data-change="-5"' in html
    # The public split shows no change.
    assert _api_rows(api_as, mnist, "public")[0]["rank_change"] is None


def _api_rows(api_as, lab, split):
    return (
        api_as("student")
        .get(
            reverse("api-leaderboard", args=[lab.spec_id]),
            {"edition": lab.edition.slug, "split": split},
        )
        .json()["rows"]
    )
