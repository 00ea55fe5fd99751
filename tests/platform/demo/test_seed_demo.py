"""The demo seed: an edition to click through, its people, entries and final projects."""

import pytest
from django.core.management import call_command

from accounts.models import User
from awards.models import Prize
from courses.models import Edition, Lab
from demo.seeding import seed_final_projects
from projects.models import Membership, ProjectGroup


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
        "lab2-pneumothorax",
        "lab3-cartpole",
        "lab3-pong",
    }
    # Every demo lab says on its page where its data comes from.
    for lab in Lab.objects.filter(edition=edition):
        assert "\n\nDemo data: " in lab.description, lab.spec_id
    assert "real MNIST" in Lab.objects.get(spec_id="lab2-mnist").description
    assert "get_test_faces" in Lab.objects.get(spec_id="lab2-debias").description
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
    assert entries.count() == 12
    assert {e.lab.spec_id for e in entries.filter(user__username="demo-staff")} == {
        "lab1-music",
        "lab2-mnist",
        "lab2-debias",
        "lab2-pneumothorax",
        "lab3-cartpole",
        "lab3-pong",
    }
    assert all(e.status == Status.QUEUED for e in entries)
    assert LeaderboardBaseline.objects.count() == 6
    assert "Queued 12 demo entries" in capsys.readouterr().out


@pytest.mark.django_db
def test_seed_final_projects_builds_demo_groups_idempotently():
    call_command("seed_demo")
    edition = Edition.objects.get(slug="iap-2027")
    seed_final_projects(edition)
    groups = seed_final_projects(edition)
    assert [g.name for g in groups] == ["Neural Tunes", "Fair Faces"]
    assert Membership.objects.filter(edition=edition).count() == 4
    assert ProjectGroup.objects.get(name="Neural Tunes").is_prize_eligible  # demo-student1 is MIT
    assert not ProjectGroup.objects.get(name="Fair Faces").is_prize_eligible
    deadline = edition.project_settings.signup_deadline
    assert edition.format_time(deadline) == "January 29, 2027, 11:59 pm EST"
    assert User.objects.get(username="demo-judge1").is_judge
