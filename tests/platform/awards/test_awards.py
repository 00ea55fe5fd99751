"""Confirming and announcing prizes: ties block, snapshots freeze, announcing is idempotent,
only staff act, and the public winners page shows what was announced."""

import csv
import io
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Affiliation, Role
from awards import services
from awards.models import AwardSnapshot, Category, Prize
from factories import (
    EditionFactory,
    PitchBallotFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    final_projects,
)
from judging.models import PitchBallot


@pytest.fixture
def edition(db):
    edition = EditionFactory(is_current=True)
    final_projects(edition)
    return edition


@pytest.fixture
def judges(make_user):
    return [make_user(role=Role.JUDGE, affiliation=Affiliation.PUBLIC) for _ in range(2)]


def _group(edition, make_user, name, affiliation=Affiliation.MIT_STUDENT):
    return ProjectGroupFactory(
        edition=edition, name=name, members=[make_user(affiliation=affiliation)]
    )


def _score(group, judges, novelty, soundness=4, clarity=4):
    for judge in judges:
        PitchBallotFactory(
            group=group, judge=judge, novelty=novelty, soundness=soundness, clarity=clarity
        )


@pytest.fixture
def pitches(edition, make_user, judges):
    """Alpha 5/5/5, Beta 4/4/4 (no MIT student), Gamma and Delta tied at 3/4/4."""
    alpha = _group(edition, make_user, "Alpha")
    beta = _group(edition, make_user, "Beta", Affiliation.PUBLIC)
    gamma = _group(edition, make_user, "Gamma")
    delta = _group(edition, make_user, "Delta")
    _score(alpha, judges, 5, 5, 5)
    _score(beta, judges, 4)
    _score(gamma, judges, 3)
    _score(delta, judges, 3)
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="GPU", position=1)
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="Speaker", position=2)
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}


def _awards(snapshot_or_category) -> list[tuple[str, str]]:
    categories = (
        snapshot_or_category.data["categories"]
        if isinstance(snapshot_or_category, AwardSnapshot)
        else snapshot_or_category
    )
    return [(a["prize"], a["key"]) for c in categories for a in c["awards"]]


def test_ineligible_group_is_skipped_and_the_tie_blocks_confirmation(edition, pitches, staff):
    preview = services.awards_preview(edition)
    (project,) = preview
    assert _awards(preview) == [("GPU", f"group:{pitches['alpha'].pk}")]
    assert [s["key"] for s in project["skipped"]] == [f"group:{pitches['beta'].pk}"]
    assert {e["key"] for e in project["ties"][0]} == {
        f"group:{pitches['gamma'].pk}",
        f"group:{pitches['delta'].pk}",
    }
    with pytest.raises(services.AwardsError, match="Resolve the ties"):
        services.awards_confirm(edition=edition, by=staff)
    assert not AwardSnapshot.objects.exists()


def test_staff_resolve_the_tie_then_confirm_freezes_a_snapshot(edition, pitches, staff, judges):
    keys = [f"group:{pitches['delta'].pk}", f"group:{pitches['gamma'].pk}"]
    services.tie_resolve(edition=edition, scope="project", keys=keys, by=staff)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    assert _awards(snapshot) == [
        ("GPU", f"group:{pitches['alpha'].pk}"),
        ("Speaker", f"group:{pitches['delta'].pk}"),
    ]
    # Scores change afterwards: the confirmed snapshot does not.
    PitchBallot.objects.filter(group=pitches["gamma"]).update(novelty=5, soundness=5, clarity=5)
    frozen = AwardSnapshot.objects.get(pk=snapshot.pk)
    assert _awards(frozen) == _awards(snapshot)
    assert _awards(services.awards_preview(edition)) != _awards(snapshot)


def test_tie_resolution_must_name_exactly_an_open_tie(edition, pitches, staff):
    alpha, gamma = f"group:{pitches['alpha'].pk}", f"group:{pitches['gamma'].pk}"
    with pytest.raises(services.AwardsError, match="exactly"):
        services.tie_resolve(edition=edition, scope="project", keys=[alpha, gamma], by=staff)


def test_announcing_is_idempotent_and_emails_winners_once(
    edition, pitches, staff, mailoutbox, client
):
    services.tie_resolve(
        edition=edition,
        scope="project",
        keys=[f"group:{pitches['gamma'].pk}", f"group:{pitches['delta'].pk}"],
        by=staff,
    )
    snapshot = services.awards_confirm(edition=edition, by=staff)
    assert "not been announced" in client.get(reverse("winners")).content.decode()
    assert services.awards_announce(snapshot=snapshot, by=staff, confirmed=True) is True
    assert services.awards_announce(snapshot=snapshot, by=staff, confirmed=True) is False
    assert len(mailoutbox) == 2
    assert {m.subject for m in mailoutbox} == {
        "[6.S191] You won: GPU (Final project)",
        "[6.S191] You won: Speaker (Final project)",
    }
    page = client.get(reverse("winners")).content.decode()
    assert "Alpha" in page and "Gamma" in page and "Delta" not in page


def test_changing_after_announcing_needs_a_reasoned_revision(edition, pitches, staff, mailoutbox):
    keys = [f"group:{pitches['gamma'].pk}", f"group:{pitches['delta'].pk}"]
    services.tie_resolve(edition=edition, scope="project", keys=keys, by=staff)
    first = services.awards_confirm(edition=edition, by=staff)
    services.awards_announce(snapshot=first, by=staff, confirmed=True)
    with pytest.raises(services.AwardsError, match="revision with a reason"):
        services.awards_confirm(edition=edition, by=staff)
    services.tie_resolve(edition=edition, scope="project", keys=keys[::-1], by=staff)
    revision = services.awards_confirm(edition=edition, by=staff, reason="Judge corrected a score")
    assert revision.version == 2 and revision.revision_reason == "Judge corrected a score"
    services.awards_announce(snapshot=revision, by=staff, confirmed=True)
    # Only the newly winning group is emailed again.
    assert len(mailoutbox) == 3
    assert mailoutbox[-1].to == [pitches["delta"].member_users()[0].email]
    with pytest.raises(services.AwardsError, match="latest"):
        services.awards_announce(snapshot=first, by=staff, confirmed=True)


@pytest.mark.parametrize("name", ["student", "judge"])
def test_only_staff_confirm_or_announce(edition, pitches, staff, name, request, client_as):
    user = request.getfixturevalue(name)
    with pytest.raises(services.AwardsError):
        services.awards_confirm(edition=edition, by=user)
    client = client_as(name)
    for url in (reverse("awards-staff"), reverse("pass-report")):
        assert client.get(url).status_code == 403
    assert client.post(reverse("awards-confirm")).status_code == 403
    assert not AwardSnapshot.objects.exists()


def test_staff_pages_and_csv(edition, pitches, client_as, staff):
    client = client_as("staff")
    page = client.get(reverse("awards-staff")).content.decode()
    assert "Resolve tie" in page and "Alpha" in page
    keys = [f"group:{pitches['gamma'].pk}", f"group:{pitches['delta'].pk}"]
    client.post(
        reverse("awards-tie"),
        {"scope": "project", f"pos:{keys[0]}": "2", f"pos:{keys[1]}": "1"},
    )
    client.post(reverse("awards-confirm"))
    snapshot = AwardSnapshot.objects.get()
    assert _awards(snapshot)[1] == ("Speaker", keys[1])
    # Announcing asks for an explicit confirmation first (issue 12).
    client.post(reverse("awards-announce", args=[snapshot.pk]), {"confirm": "yes"})
    snapshot.refresh_from_db()
    assert snapshot.announced_by == staff
    csv_text = client.get(reverse("awards-csv", args=[snapshot.pk])).content.decode()
    assert csv_text.splitlines()[0] == "category,prize,rank,winner,score,eligible"
    assert "GPU" in csv_text and "Delta" in csv_text


def test_awards_csv_defuses_a_formula_group_name(edition, pitches, staff, client_as):
    evil = ' =HYPERLINK("https://evil.example","x")'  # white space first: still a formula
    pitches["alpha"].name = evil
    pitches["alpha"].save()
    keys = [f"group:{pitches['gamma'].pk}", f"group:{pitches['delta'].pk}"]
    services.tie_resolve(edition=edition, scope="project", keys=keys, by=staff)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    response = client_as("staff").get(reverse("awards-csv", args=[snapshot.pk]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[1][:3] == ["Final project", "GPU", "1"]
    assert rows[1][3].startswith("'" + evil)  # the group's name, then its members


def test_lab_prizes_follow_the_rubric_standings_and_skip_the_public(make_user, staff):
    from factories import LabFactory, scored_entry
    from judging.services import entry_score_submit, judge_assign, lab_judging_close

    edition = EditionFactory(is_current=True)
    # Judging closes only after the lab does (issue 12): the lab's deadline has passed.
    lab = LabFactory(
        edition=edition,
        spec_id="lab3-cartpole",
        title="Lab 3: CartPole",
        opens_at=timezone.now() - timedelta(days=3),
        closes_at=timezone.now() - timedelta(minutes=1),
    )
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="Drone")
    public = make_user(username="pub", affiliation=Affiliation.PUBLIC)
    listener = make_user(username="lis", affiliation=Affiliation.MIT_LISTENER)
    student = make_user(username="mit", affiliation=Affiliation.MIT_STUDENT)
    entries = {
        user.username: scored_entry(
            user, lab, public={"mean_return": ret}, private={"mean_return": ret}
        )
        for user, ret in ((public, 500.0), (listener, 480.0), (student, 300.0))
    }
    judge = make_user(role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    judge_assign(lab=lab, judge=judge, by=staff)
    for name, (soundness, descriptions) in {"pub": (5, 5), "lis": (4, 4), "mit": (3, 3)}.items():
        entry_score_submit(
            entry=entries[name], judge=judge, soundness=soundness, descriptions=descriptions
        )
    lab_judging_close(lab=lab, by=staff)

    (category,) = services.awards_preview(edition)
    assert [e["key"].split(":")[0] for e in category["standings"]] == ["user"] * 3
    # Criterion 1 from the spec thresholds: 500 -> 5, 480 -> 5, 300 -> 4; combined 5, 13/3, 10/3.
    assert [e["name"] for e in category["standings"]][:2] == [str(public), str(listener)]
    assert _awards([category]) == [("Drone", f"user:{listener.pk}")]
    assert [s["key"] for s in category["skipped"]] == [f"user:{public.pk}"]


def test_a_prize_lab_without_judges_is_awarded_by_its_leaderboard(
    make_user, staff, client_as, mailoutbox
):
    """Before: such a lab turned final at the reveal, its prize showed "No ranked entrants
    yet" and was announced as "No winner" although an eligible student had a scored entry."""
    from factories import LabFactory, scored_entry
    from leaderboards.services import lab_private_reveal

    edition = EditionFactory(is_current=True)
    lab = LabFactory(
        edition=edition,
        spec_id="lab3-cartpole",
        title="Lab 3: CartPole",
        opens_at=timezone.now() - timedelta(days=3),
        closes_at=timezone.now() - timedelta(minutes=1),
    )
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="Drone")
    public = make_user(username="pub", affiliation=Affiliation.PUBLIC)
    student = make_user(username="mit", affiliation=Affiliation.MIT_STUDENT)
    # The private split decides: the public student leads there but may not win.
    scored_entry(public, lab, {"mean_return": 100.0}, {"mean_return": 480.0})
    scored_entry(student, lab, {"mean_return": 400.0}, {"mean_return": 300.0})
    lab_private_reveal(lab=lab, by=staff)

    (category,) = services.awards_preview(edition)
    assert [(e["name"], e["rank"]) for e in category["standings"]] == [
        (str(public), 1),
        (str(student), 2),
    ]
    assert category["standings"][1]["score"] == "Mean return 300"
    assert _awards([category]) == [("Drone", f"user:{student.pk}")]
    snapshot = services.awards_confirm(edition=edition, by=staff)
    assert services.awards_announce(snapshot=snapshot, by=staff, confirmed=True)
    [email] = mailoutbox
    assert email.to == [student.email] and "Drone" in email.subject
    assert str(student) in client_as("anonymous").get(reverse("winners")).content.decode()


def test_staff_see_which_prize_boundaries_are_noise(make_user, staff, client_as):
    from factories import LabFactory, scored_entry_wrong_on

    edition = EditionFactory(is_current=True)
    lab = LabFactory(edition=edition, spec_id="lab2-mnist", title="Lab 2")
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="GPU", quantity=1)
    users = [make_user(username=f"u{i}", affiliation=Affiliation.MIT_STUDENT) for i in range(3)]
    # 1st and 2nd are 3 examples apart of 400 (noise); 3rd is far behind.
    for user, wrong in zip(users, (0, 3, 60), strict=True):
        scored_entry_wrong_on(user, lab, wrong)
    (category,) = services.awards_preview(edition)
    assert len(category["noise"]) == 1
    assert str(users[0]) in category["noise"][0] and str(users[1]) in category["noise"][0]
    page = client_as("staff").get(reverse("awards-staff")).content.decode()
    assert 'data-noise="1"' in page

    # Two prizes: the 2nd/3rd boundary (3 vs 60 wrong) is significant, so no second note.
    Prize.objects.filter(lab=lab).update(quantity=2)
    (category,) = services.awards_preview(edition)
    assert len(category["noise"]) == 1


# --- issue 12 item 1: the timeline holds for prizes -----------------------------------------


@pytest.fixture
def lab_prize(edition, make_user):
    from factories import LabFactory

    lab = LabFactory(
        edition=edition,
        spec_id="lab2-debias",
        title="Lab 1",
        opens_at=timezone.now() - timedelta(days=3),
        closes_at=timezone.now() + timedelta(days=20),
    )
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="Headphones")
    return lab


def test_prizes_cannot_be_confirmed_while_a_lab_is_open(edition, pitches, lab_prize, staff):
    with pytest.raises(services.AwardsError, match=r"Lab 1 closes .* (EST|EDT)"):
        services.awards_confirm(edition=edition, by=staff)


def test_prizes_cannot_be_confirmed_before_the_final_projects_are_final(db, staff, make_user):
    edition = EditionFactory(is_current=True)
    ProjectSettingsFactory(edition=edition, min_judges_per_group=1)
    Prize.objects.create(edition=edition, category=Category.PROJECT, name="GPU", position=1)
    with pytest.raises(services.AwardsError, match="pitch sign-up closes"):
        services.awards_confirm(edition=edition, by=staff)


def test_announce_is_blocked_when_a_lab_reopens_after_confirming(
    edition, pitches, staff, mailoutbox
):
    from courses.services import lab_deadline_move
    from factories import LabFactory
    from leaderboards.services import lab_private_reveal

    closed = timezone.now() - timedelta(days=1)
    lab = LabFactory(
        edition=edition,
        spec_id="lab2-debias",
        title="Lab 1",
        opens_at=closed - timedelta(days=5),
        closes_at=closed,
    )
    Prize.objects.create(edition=edition, category=Category.LAB, lab=lab, name="Headphones")
    lab_private_reveal(lab=lab, by=staff)
    _order_tie(edition, pitches, staff)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    lab_deadline_move(lab=lab, closes_at=timezone.now() + timedelta(days=2), by=staff)
    with pytest.raises(services.AwardsError, match="Lab 1 closes"):
        services.awards_announce(snapshot=snapshot, by=staff, confirmed=True)
    assert mailoutbox == []
    assert services.snapshot_latest(edition, announced=True) is None


def test_announce_shows_who_gets_what_and_needs_an_explicit_yes(
    edition, pitches, staff, client_as, mailoutbox
):
    _order_tie(edition, pitches, staff)
    snapshot = services.awards_confirm(edition=edition, by=staff)
    client = client_as("staff")
    url = reverse("awards-announce", args=[snapshot.pk])
    summary = client.get(url).content.decode()
    assert "Alpha" in summary and "GPU" in summary and 'name="confirm"' in summary
    client.post(url)  # the button without the box ticked: nothing happens
    snapshot.refresh_from_db()
    assert snapshot.announced_at is None and mailoutbox == []
    with pytest.raises(services.AwardsError, match="confirm"):
        services.awards_announce(snapshot=snapshot, by=staff, confirmed=False)
    client.post(url, {"confirm": "yes"})
    snapshot.refresh_from_db()
    assert snapshot.announced_at is not None and len(mailoutbox) == 2


def _order_tie(edition, pitches, staff):
    keys = [f"group:{pitches['gamma'].pk}", f"group:{pitches['delta'].pk}"]
    services.tie_resolve(edition=edition, scope="project", keys=keys, by=staff)
