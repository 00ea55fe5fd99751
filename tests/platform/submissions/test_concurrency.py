"""Quotas hold under real concurrency: parallel uploads race in separate connections.

In CI this runs on PostgreSQL (DATABASE_URL), where the participant row lock does the work."""

import os
import threading
from pathlib import Path

import pytest
from django.db import connection

from submissions.models import Entry, GradingRun
from submissions.services import intake
from uploads import LEFT, upload

pytestmark = pytest.mark.django_db(transaction=True)


def test_database_is_the_configured_one():
    expected = (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )
    assert connection.vendor == expected


def test_twenty_parallel_uploads_against_a_limit_of_five(enrolled, cartpole, settings):
    cartpole.max_entries_total = 5
    cartpole.max_entries_per_day = 20
    cartpole.save()
    start = threading.Barrier(20)
    accepted, refused, errors = [], [], []

    def submit() -> None:
        try:
            start.wait()
            entry = intake.entry_submit(user=enrolled, lab=cartpole, upload=upload(LEFT))
            accepted.append(entry.pk)
        except intake.SubmissionRefused as error:
            refused.append(str(error))
        except Exception as error:  # noqa: BLE001  (any other failure is a test failure)
            errors.append(repr(error))
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(accepted) == 5
    assert len(refused) == 15 and all("all 5 entries" in r for r in refused)
    assert Entry.objects.count() == 5
    assert GradingRun.objects.count() == 5
    assert len(list((Path(settings.MEDIA_ROOT) / "entries").rglob("*.py"))) == 5
