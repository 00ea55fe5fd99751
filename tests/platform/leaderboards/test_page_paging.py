"""The leaderboard page is paged as the API is: 100 rows a page, the student's own row always
shown, the same queries whatever the board's size, and the staff CSV still the whole board."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from factories import EntryFactory, GradingRunFactory, UserFactory, scored_entry
from leaderboards.models import BoardRow
from leaderboards.services import board_refresh
from submissions.splits import PUBLIC
from submissions.standing import participant_standing_refresh


def _fill(lab, count):
    """`count` students with distinct scores (from 1 up), their standings chosen without
    ranking the board after each (board_refresh ranks it once, after)."""
    for i in range(count):
        entry = EntryFactory(user=UserFactory(role="student"), lab=lab)
        GradingRunFactory(entry=entry, split_metrics={"public": {"accuracy": 1.0 + i}})
        participant_standing_refresh(entry.participant, announce=False)


def _board(lab, count, own=None, own_score=0.0):
    _fill(lab, count)
    if own is not None:
        scored_entry(own, lab, {"accuracy": own_score})
    # Explicitly: the board may be refreshed after the commit, not inside a test's transaction.
    board_refresh(lab=lab)


def _get(client, lab, **params):
    return client.get(reverse("leaderboard", args=[lab.pk]), params)


def _keys(html: str, table: str) -> list[str]:
    """The data-key of each row of the table with this id."""
    body = re.search(rf'<table class="leaderboard" id="{table}".*?</table>', html, re.S)
    return re.findall(r'data-key="([^"]+)"', body.group(0)) if body else []


def test_a_long_board_is_shown_a_page_of_100_rows_at_a_time(mnist, student, client_as):
    _board(mnist, 150, own=student, own_score=1000.0)  # the student leads: on page 1
    client = client_as("student")
    stored = list(
        BoardRow.objects.filter(lab=mnist, split=PUBLIC).order_by("position").values_list("key")
    )
    first = _get(client, mnist).content.decode()
    assert _keys(first, "board") == [k for (k,) in stored[:100]]
    assert "Page <strong>1</strong> of 2" in first and "rows 1–100 of 151" in first
    assert 'href="?split=public&amp;page=2"' in first  # next: the split goes with the page
    assert 'id="own-standing"' not in first and 'id="you"' in first  # own row: on this page
    # Ranks and ties are read from the stored board, not ranked again per request.
    BoardRow.objects.filter(lab=mnist, split=PUBLIC, user=student).update(rank=77, tie_leader=70)
    assert 'data-rank="77"' in _get(client, mnist).content.decode()
    second = _get(client, mnist, page=2).content.decode()
    assert _keys(second, "board") == [k for (k,) in stored[100:]]
    assert "rows 101–151 of 151" in second and 'href="?split=public&amp;page=1"' in second


def test_the_own_row_on_another_page_is_shown_apart_as_your_standing(mnist, student, client_as):
    _board(mnist, 150, own=student, own_score=0.0)  # last: on page 2
    html = _get(client_as("student"), mnist).content.decode()
    assert _keys(html, "own-standing") == [f"user:{student.pk}"]
    assert f"user:{student.pk}" not in _keys(html, "board")
    assert "Your standing" in html and 'data-rank="151"' in html
    assert 'href="?split=public&amp;page=2#you"' in html  # jump to my row
    on_it = _get(client_as("student"), mnist, page=2).content.decode()
    assert 'id="own-standing"' not in on_it and f"user:{student.pk}" in _keys(on_it, "board")


@pytest.mark.parametrize(
    ("page", "status", "shown"),
    [("0", 200, 1), ("-4", 200, 1), ("3", 200, 2), ("99999999999999999999999", 200, 2)]
    + [("two", 400, None), ("1.5", 400, None)],
)
def test_page_numbers_out_of_range_show_the_nearest_page_and_junk_is_refused(
    mnist, student, client_as, page, status, shown
):
    _board(mnist, 120)
    response = _get(client_as("student"), mnist, page=page)
    assert response.status_code == status
    if shown:
        assert f"Page <strong>{shown}</strong> of 2" in response.content.decode()
    else:
        assert "whole number" in response.content.decode()


def test_staff_page_the_chosen_split_and_the_csv_stays_whole(mnist, staff, client_as):
    _fill(mnist, 130)
    board_refresh(lab=mnist)
    client = client_as("staff")
    html = _get(client, mnist, split="private", page=2).content.decode()
    assert 'data-split="private"' in html and "Page <strong>2</strong> of 2" in html
    assert 'href="?split=private&amp;page=1"' in html
    assert 'jump-own" href' not in html and 'id="own-standing"' not in html  # no own row
    assert 'id="csv"' in html and 'id="duplicates"' in html and "Reveal the private" in html
    csv = client.get(reverse("leaderboard-csv", args=[mnist.pk]), {"split": "public"})
    assert len(csv.content.decode().strip().splitlines()) == 1 + 130  # header and every row


def _page_queries(client, lab) -> tuple[int, int]:
    _get(client, lab)  # warm-up: the session, the current edition
    with CaptureQueriesContext(connection) as queries:
        html = _get(client, lab).content.decode()
    return len(queries), len(_keys(html, "board"))


def test_the_page_reads_the_same_queries_whatever_the_board_size(mnist, debias, student, client_as):
    client = client_as("student")
    _board(mnist, 5, own=student, own_score=1000.0)
    _board(debias, 300)  # debias: ranked by mean_group_auc, which nobody has: all unranked
    scored_entry(student, debias, {"mean_group_auc": 0.9})
    board_refresh(lab=debias)
    small, small_rows = _page_queries(client, mnist)
    large, large_rows = _page_queries(client, debias)
    assert (small_rows, large_rows) == (6, 100)
    assert large == small


def test_the_api_answers_a_page_far_beyond_the_last_with_no_rows(mnist, student, api_as):
    _board(mnist, 3, own=student)
    url = reverse("api-leaderboard", args=["lab2-mnist"])
    # An offset the database cannot hold is never sent: past the last page nothing is read.
    data = api_as("student").get(url, {"page": 10**20}).json()
    assert data["rows"] == [] and data["pages"] == 1 and data["you"]["rank"] == 4
