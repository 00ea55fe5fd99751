from datetime import timedelta

import pytest
from django.utils import timezone

from celery_helpers import use_broker
from factories import EnrollmentFactory, LabFactory


@pytest.fixture(autouse=True)
def _memory_broker():
    """Unit tests never reach a real broker; the worker tests switch to Redis themselves."""
    use_broker("memory://")
    yield
    use_broker("memory://")


@pytest.fixture
def cartpole(edition):
    now = timezone.now()
    return LabFactory(
        edition=edition,
        spec_id="lab3-cartpole",
        title="Lab 3: CartPole",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=1),
        needs_writeup=False,
        max_entries_per_day=5,
        max_entries_total=10,
    )


@pytest.fixture
def enrolled(edition, student, other_student):
    EnrollmentFactory(edition=edition, user=student)
    EnrollmentFactory(edition=edition, user=other_student)
    return student
