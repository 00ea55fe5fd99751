"""Addresses and usernames are looked up ignoring case, once per roster row: each lookup must
use an index, or a course-size roster scans every account per row and the import outlives
the request (a 5,000-row roster was killed by gunicorn's timeout: a 500, nothing imported)."""

import pytest
from allauth.account.models import EmailAddress
from django.db import connection

from accounts.models import User
from courses.roster import MAX_ROWS, RosterError, roster_parse

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's query plans")
@pytest.mark.parametrize(
    "lookup",
    [
        lambda: EmailAddress.objects.filter(email__iexact="Ada@MIT.edu", verified=True),
        lambda: User.objects.filter(email__iexact="Ada@MIT.edu"),
        lambda: User.objects.filter(username__iexact="Ada"),
    ],
    ids=["verified address", "account by address", "username taken"],
)
def test_case_insensitive_lookups_use_an_index(lookup):
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # small tables: ask for the index
    plan = lookup().explain()
    # The index answers the condition itself (not a whole-index scan under a filter).
    assert "Index Cond: (upper(" in plan, plan


def test_a_roster_too_long_for_one_request_is_refused_whole():
    rows = "".join(f"p{i}@mit.edu,P {i},MIT listener\n" for i in range(MAX_ROWS + 1))
    with pytest.raises(RosterError, match=f"More than {MAX_ROWS} rows: split the file"):
        roster_parse("email,name,affiliation\n" + rows)
    # Measured through the site: 2,000 rows took 18.6 s (6 ms a row, and its invitations).
    assert MAX_ROWS <= 1000
