from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from accounts.models import User
from awards.models import Prize
from courses.models import Edition, Lab, format_in_zone
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


@pytest.mark.django_db
def test_seed_demo_creates_edition_labs_and_logins_idempotently(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    edition = Edition.objects.get(is_current=True)
    assert edition.name == "IAP 2027"
    assert edition.time_zone == "America/New_York"
    assert set(Lab.objects.filter(edition=edition).values_list("spec_id", flat=True)) == {
        "lab1-music",
        "lab2-mnist",
        "lab2-debias",
        "lab3-cartpole",
        "lab3-pong",
    }
    music = Lab.objects.get(spec_id="lab1-music")
    assert music.closes_at_display == "January 26, 2027, 11:59 pm EST"
    assert music.prize_names == "Headphones"
    assert Prize.objects.filter(edition=edition, category="project").count() == 3
    assert User.objects.filter(username__startswith="demo-").count() == 7
    assert edition.enrollments.count() == 4
    assert "demo-student1" in out and "demo-6s191" in out
    student = User.objects.get(username="demo-student1")
    assert student.check_password("demo-6s191")


@pytest.mark.django_db
def test_seed_demo_refuses_production(settings):
    from django.core.management.base import CommandError

    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")
    assert not Edition.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_seed_demo_queues_reference_entries_once(reference_entries, settings, tmp_path, capsys):
    from leaderboards.models import LeaderboardBaseline
    from submissions.models import Entry, Status

    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("seed_demo")
    call_command("seed_demo")
    entries = Entry.objects.select_related("lab", "user")
    assert entries.count() == 10
    assert {e.lab.spec_id for e in entries.filter(user__username="demo-staff")} == {
        "lab1-music",
        "lab2-mnist",
        "lab2-debias",
        "lab3-cartpole",
        "lab3-pong",
    }
    assert all(e.status == Status.QUEUED for e in entries)
    assert LeaderboardBaseline.objects.count() == 5
    assert "Queued 10 demo entries" in capsys.readouterr().out


def test_short_timestamps_use_the_editions_zone():
    from courses.templatetags.course_time import in_zone_short

    moment = datetime(2026, 11, 23, 11, 46, 45, tzinfo=UTC)
    assert in_zone_short(moment, "America/New_York") == "Nov 23, 6:46:45 am EST"
    assert in_zone_short(None) == ""
