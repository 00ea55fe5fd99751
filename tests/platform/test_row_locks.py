"""A row lock takes the rows it asks for and nothing more.

Django's `select_for_update()` without `of` locks a row of every table the query joins, and
a model's default ordering joins: `Lab` orders by its edition, `ProjectGroup` too. Ranking a
board therefore locked the edition's row FOR UPDATE, and any transaction inserting a row that
refers to that edition (an extension, an enrolment, a group) or to the lab (an entry)
needed a share of it at COMMIT while the ranking waited for the lab row it held: PostgreSQL
found deadlocks (the course rehearsal's extensions got a 503 twice in a second). Every lock
in the platform is `select_for_update(of=("self",))`. SQLite takes no row locks: PostgreSQL
only (what CI runs on).
"""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from factories import ProjectGroupFactory
from leaderboards.services import board_refresh
from projects.services import schedule_generate

pytestmark = pytest.mark.django_db


@pytest.fixture
def postgres():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes no row locks: run with DATABASE_URL on PostgreSQL")


def _locks(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]


def _takes_only_its_own_rows(sql: str) -> bool:
    """A lock on a joined query names its table (`FOR UPDATE OF`); without a join (Django's
    own update_or_create) a plain FOR UPDATE takes one table's rows anyway."""
    return " JOIN " not in sql or bool(re.search(r"FOR UPDATE OF \S+$", sql))


def test_ranking_a_board_locks_the_lab_row_only(postgres, cartpole):
    with CaptureQueriesContext(connection) as seen:
        board_refresh(lab=cartpole)
    locks = _locks(seen.captured_queries)
    assert any(sql.endswith('FOR UPDATE OF "courses_lab"') for sql in locks), locks
    for sql in locks:
        assert _takes_only_its_own_rows(sql), sql


def test_generating_the_pitch_schedule_locks_the_groups_only(postgres, staff):
    group = ProjectGroupFactory()
    with CaptureQueriesContext(connection) as seen:
        schedule_generate(edition=group.edition, user=staff)
    locks = _locks(seen.captured_queries)
    assert any(sql.endswith('FOR UPDATE OF "projects_projectgroup"') for sql in locks), locks
    for sql in locks:
        assert _takes_only_its_own_rows(sql), sql
