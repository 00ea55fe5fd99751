"""The leaderboard API reads stored, paged rows: constant queries and size at any board size."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from factories import UserFactory, scored_entry
from leaderboards.models import BoardRow
from leaderboards.selectors import leaderboard_for
from submissions.splits import PUBLIC

T0 = timezone.now() - timedelta(hours=6)


def _fill(lab, count):
    for i in range(count):
        scored_entry(UserFactory(role="student"), lab, {"accuracy": float(i % 13)})


def _get(api, **params):
    return api.get(reverse("api-leaderboard", args=["lab2-mnist"]), params).json()


@pytest.mark.parametrize("count", [3, 40])
def test_the_same_queries_whatever_the_board_size(
    mnist, student, api_as, django_assert_num_queries, count
):
    _fill(mnist, count)
    scored_entry(student, mnist, {"accuracy": 0.5})
    api = api_as("student")
    api.get(reverse("api-leaderboard", args=["lab2-mnist"]))  # session and edition warm-up
    # session, user, current edition, lab, count, the page, own row (not on this page)
    with django_assert_num_queries(7):
        data = _get(api, page_size=2)
    assert len(data["rows"]) == 2 and data["total"] == count + 1


def test_pages_follow_the_stored_order_and_own_row_is_always_there(mnist, student, api_as):
    _fill(mnist, 7)
    scored_entry(student, mnist, {"accuracy": -1.0})  # last
    api = api_as("student")
    pages = [_get(api, page=p, page_size=3) for p in (1, 2, 3)]
    assert [d["pages"] for d in pages] == [3, 3, 3]
    keys = [r["key"] for d in pages for r in d["rows"]]
    assert keys == [r.row.key for r in leaderboard_for(mnist, PUBLIC).rows]
    assert pages[0]["you"]["key"] == f"user:{student.pk}" and pages[0]["you"]["rank"] == 8
    assert _get(api, page=1, page_size=100)["page_size"] == 100
    assert (
        api.get(reverse("api-leaderboard", args=["lab2-mnist"]), {"page": "x"}).status_code == 400
    )


def test_ranks_are_stored_when_standings_change_and_read_back(mnist, student, api_as):
    scored_entry(student, mnist, {"accuracy": 50.0})
    assert BoardRow.objects.get(lab=mnist, split=PUBLIC).rank == 1
    other = UserFactory(role="student")
    scored_entry(other, mnist, {"accuracy": 60.0})
    stored = {r.key: r.rank for r in BoardRow.objects.filter(lab=mnist, split=PUBLIC)}
    assert stored == {f"user:{other.pk}": 1, f"user:{student.pk}": 2}
    # Read, not recomputed: a stored rank is what the API answers.
    BoardRow.objects.filter(lab=mnist, split=PUBLIC, key=f"user:{student.pk}").update(rank=99)
    assert _get(api_as("student"))["you"]["rank"] == 99


def test_the_board_is_ranked_again_only_when_a_standing_changes(mnist, student):
    from submissions.standing import participant_standing_refresh, standings_changed

    entry = scored_entry(student, mnist, {"accuracy": 50.0})
    calls = []

    def count(**kwargs):
        calls.append(kwargs["lab"])

    standings_changed.connect(count)
    try:
        participant_standing_refresh(entry.participant)  # e.g. a run of it moved in the queue
        assert calls == []
        scored_entry(student, mnist, {"accuracy": 70.0})  # a better run now stands
        assert calls == [mnist]
    finally:
        standings_changed.disconnect(count)


def test_a_board_never_stored_is_ranked_on_first_read(mnist, student, api_as):
    # A lab from before stored boards: standings, but no board rows yet.
    scored_entry(student, mnist, {"accuracy": 50.0})
    BoardRow.objects.all().delete()
    data = _get(api_as("student"))
    assert [r["rank"] for r in data["rows"]] == [1] and data["you"]["rank"] == 1


def test_a_page_number_that_is_not_one_is_a_documented_400(mnist, student, api_as):
    response = api_as("student").get(
        reverse("api-leaderboard", args=["lab2-mnist"]), {"page_size": "null"}
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "page and page_size are whole numbers."}
