"""Conflicts of interest block every page and API route; scores are for staff only."""

import pytest
from django.core.files.base import ContentFile

from accounts.models import Affiliation, Role
from factories import (
    ConflictFactory,
    PitchBallotFactory,
    ProjectGroupFactory,
    UserFactory,
    pitch_session,
)
from judging.models import PitchBallot
from projects import services
from projects.models import ConflictSource

PDF = b"%PDF-1.4\n%%EOF\n"

# (method, url, payload): every route that shows or changes one group's judging.
GROUP_ROUTES = [
    ("get", "/projects/groups/{id}/", None),
    ("get", "/projects/groups/{id}/slides.pdf", None),
    ("get", "/projects/groups/{id}/score/", None),
    ("post", "/projects/groups/{id}/score/", {"novelty": "5", "soundness": "5", "clarity": "5"}),
    ("get", "/api/projects/groups/{id}/ballot/", None),
    ("post", "/api/projects/groups/{id}/ballot/", {"novelty": 5, "soundness": 5, "clarity": 5}),
]


@pytest.fixture
def group(edition, student):
    pitch_session(edition)  # judges score while the pitches are under way
    group = ProjectGroupFactory(edition=edition, name="Conflicted", members=[student])
    group.slides_file.save("deck.pdf", ContentFile(PDF))
    return group


def _conflict(kind, judge, group):
    if kind == "declared":
        services.conflict_declare(judge=judge, group=group, reason="my former student")
    elif kind == "staff":
        ConflictFactory(judge=judge, group=group, source=ConflictSource.STAFF)
    else:  # a judge who is a member of the group
        group.memberships.create(edition=group.edition, user=judge)


def _call(client, method, url, payload, api):
    if method == "get":
        return client.get(url)
    if api:
        return client.post(url, payload, format="json")
    return client.post(url, payload)


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["declared", "staff", "member"])
@pytest.mark.parametrize(("method", "route", "payload"), GROUP_ROUTES)
def test_a_conflicted_judge_is_refused_on_every_route(
    api_as, judge, group, kind, method, route, payload
):
    other_judge = UserFactory(role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    _conflict(kind, judge, group)
    url = route.format(id=group.pk)
    api = url.startswith("/api/")

    refused = _call(api_as("judge"), method, url, payload, api)
    client = api_as("judge")
    client.force_login(other_judge)
    allowed = _call(client, method, url, payload, api)

    assert refused.status_code in (403, 404)
    assert allowed.status_code in (200, 302)  # the route itself works for a judge without one
    assert not PitchBallot.objects.filter(judge=judge).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["declared", "staff", "member"])
def test_a_conflicted_group_is_not_on_the_judges_lists(client_as, api_as, judge, group, kind):
    free = ProjectGroupFactory(edition=group.edition, name="Free to judge")
    _conflict(kind, judge, group)
    page = client_as("judge").get(f"/projects/{group.edition.slug}/judging/").content.decode()
    listed = api_as("judge").get(f"/api/projects/{group.edition.slug}/judging/").json()
    # Not on the list to score; only in the judge's own list of conflicts below it.
    to_score = page.split('id="my-conflicts"')[0]
    assert "Free to judge" in to_score and "Conflicted" not in to_score
    assert [g["id"] for g in listed["groups"]] == [free.pk]


@pytest.mark.django_db
def test_declaring_a_conflict_after_scoring_discards_the_ballot(judge, group):
    PitchBallotFactory(judge=judge, group=group)
    services.conflict_declare(judge=judge, group=group, reason="advised them")
    assert not PitchBallot.objects.filter(judge=judge, group=group).exists()


@pytest.mark.django_db
def test_judges_never_see_other_judges_scores(api_as, client_as, judge, group, staff):
    PitchBallotFactory(group=group, novelty=1, soundness=2, clarity=3, comment="secret remark")
    url = f"/api/projects/groups/{group.pk}/scores/"
    assert api_as("judge").get(url).status_code == 403
    assert api_as("judge").get(f"/api/projects/groups/{group.pk}/ballot/").json()["novelty"] is None
    page = client_as("judge").get(f"/projects/groups/{group.pk}/score/").content.decode()
    assert "secret remark" not in page
    staff_view = api_as("staff").get(url).json()
    assert [b["comment"] for b in staff_view["ballots"]] == ["secret remark"]


STAFF_ROUTES = [
    "/projects/{slug}/staff/",
    "/projects/{slug}/staff/ballots.csv",
    "/api/projects/{slug}/standings/",
]


@pytest.mark.django_db
@pytest.mark.parametrize("route", STAFF_ROUTES)
def test_standings_and_ballots_are_for_staff_only(persona, edition, route):
    name, client = persona
    response = client.get(route.format(slug=edition.slug))
    expected = {"anonymous": (302, 401, 403), "student": (403,), "judge": (403,), "staff": (200,)}
    assert response.status_code in expected[name]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "route",
    ["/projects/{slug}/judging/", "/projects/groups/{id}/score/", "/api/projects/{slug}/judging/"],
)
def test_only_judges_score(client_as, group, route):
    url = route.format(slug=group.edition.slug, id=group.pk)
    assert client_as("staff").get(url).status_code == 403
    assert client_as("other_student").get(url).status_code == 403
    assert client_as("judge").get(url).status_code == 200


@pytest.mark.django_db
def test_a_group_page_is_for_members_staff_and_judges_only(client_as, group):
    url = f"/projects/groups/{group.pk}/"
    assert client_as("student").get(url).status_code == 200  # a member
    assert client_as("staff").get(url).status_code == 200
    assert client_as("judge").get(url).status_code == 200
    assert client_as("other_student").get(url).status_code == 404
    assert client_as("anonymous").get(url).status_code == 302  # to the login page
