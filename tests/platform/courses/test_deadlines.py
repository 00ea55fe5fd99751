from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from courses.models import format_in_zone
from courses.templatetags.course_time import in_zone
from factories import EditionFactory, LabFactory


@pytest.mark.parametrize(
    ("moment", "zone", "expected"),
    [
        (
            datetime(2027, 1, 27, 4, 59, tzinfo=UTC),
            "America/New_York",
            "January 26, 2027, 11:59 pm EST",
        ),
        (
            datetime(2027, 7, 1, 3, 59, tzinfo=UTC),
            "America/New_York",
            "June 30, 2027, 11:59 pm EDT",
        ),
        (
            datetime(2027, 1, 27, 4, 59, tzinfo=UTC),
            "Europe/London",
            "January 27, 2027, 4:59 am GMT",
        ),
        (
            datetime(2027, 1, 26, 17, 0, tzinfo=UTC),
            "America/New_York",
            "January 26, 2027, 12:00 pm EST",
        ),
    ],
)
def test_deadlines_are_shown_in_the_editions_zone_with_the_zone_named(moment, zone, expected):
    assert format_in_zone(moment, zone) == expected
    assert in_zone(moment, zone) == expected


@pytest.mark.django_db
def test_lab_deadline_uses_its_editions_zone():
    london = EditionFactory(time_zone="Europe/London")
    lab = LabFactory(
        edition=london,
        opens_at=datetime(2027, 1, 1, tzinfo=UTC),
        closes_at=datetime(2027, 1, 27, 4, 59, tzinfo=UTC),
    )
    assert lab.closes_at_display == "January 27, 2027, 4:59 am GMT"
    assert EditionFactory().time_zone == "America/New_York"


@pytest.mark.django_db
def test_unknown_time_zone_is_refused():
    edition = EditionFactory.build(time_zone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="time zone"):
        edition.full_clean()


@pytest.mark.django_db
def test_lab_is_open_only_between_its_times():
    lab = LabFactory(
        opens_at=datetime(2027, 1, 1, tzinfo=UTC),
        closes_at=datetime(2027, 1, 27, 4, 59, tzinfo=UTC),
    )
    assert not lab.is_open(datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    assert lab.is_open(datetime(2027, 1, 27, 4, 58, 59, tzinfo=UTC))
    assert not lab.is_open(datetime(2027, 1, 27, 4, 59, tzinfo=UTC))


def test_short_timestamps_use_the_editions_zone():
    from courses.templatetags.course_time import in_zone_short

    moment = datetime(2026, 11, 23, 11, 46, 45, tzinfo=UTC)
    assert in_zone_short(moment, "America/New_York") == "Nov 23, 6:46:45 am EST"
    assert in_zone_short(None) == ""
