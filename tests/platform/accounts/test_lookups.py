"""Addresses and usernames are looked up ignoring case, once per roster row: each lookup must
use an index, or a course-size roster scans every account per row and the import outlives
the request (a 5,000-row roster was killed by gunicorn's timeout: a 500, nothing imported)."""

import pytest
from allauth.account.models import EmailAddress
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from accounts.models import User
from courses.roster_views import MAX_ROSTER_ROWS

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


def test_a_roster_too_long_for_one_request_is_refused_whole(client, edition, staff):
    client.force_login(staff)
    rows = "".join(f"p{i}@mit.edu,P {i},MIT listener\n" for i in range(MAX_ROSTER_ROWS + 1))
    upload = SimpleUploadedFile("roster.csv", b"email,name,affiliation\n" + rows.encode())
    page = client.post(
        reverse("staff-people"), {"action": "roster", "edition": edition.pk, "roster": upload}
    ).content.decode()
    assert f"More than {MAX_ROSTER_ROWS} rows: split the file" in page
    assert not User.objects.filter(email__endswith="@mit.edu").exists()
    # Measured through the site: 2,000 rows took 18.6 s (6 ms a row, and its invitations).
    assert MAX_ROSTER_ROWS <= 1000
