"""A judge declares a conflict with a reason (required) from the judging list or the score
sheet, and can undo it; staff can remove any conflict."""

import pytest

from factories import ProjectGroupFactory
from projects import services
from projects.models import Conflict, ConflictSource
from projects.services import ProjectError

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(edition):
    return ProjectGroupFactory(edition=edition, name="Turing Machines", slot=1)


def test_a_conflict_needs_a_reason(client_as, judge, group):
    with pytest.raises(ProjectError, match="Say why"):
        services.conflict_declare(judge=judge, group=group, reason="   ")
    response = client_as("judge").post(f"/projects/groups/{group.pk}/conflict/", {"reason": ""})
    assert response.status_code == 302
    assert not Conflict.objects.exists()
    response = client_as("judge").post(
        f"/projects/groups/{group.pk}/conflict/", {"reason": "I advised them"}
    )
    assert Conflict.objects.get().reason == "I advised them"


def test_the_judging_list_and_the_score_sheet_offer_the_control_with_a_required_reason(
    client_as, judge, group
):
    client = client_as("judge")
    for url in (f"/projects/{group.edition.slug}/judging/", f"/projects/groups/{group.pk}/score/"):
        html = client.get(url).content.decode()
        assert f'action="/projects/groups/{group.pk}/conflict/"' in html, url
        assert f'id="conflict-reason-{group.pk}" name="reason" maxlength="300" required' in html
        assert 'value="declared from the judging list"' not in html


def test_a_judge_undoes_their_conflict_and_scores_again(client_as, judge, group):
    conflict = services.conflict_declare(judge=judge, group=group, reason="my student")
    client = client_as("judge")
    page = client.get(f"/projects/{group.edition.slug}/judging/").content.decode()
    assert f'action="/projects/conflicts/{conflict.pk}/withdraw/"' in page
    assert client.get(f"/projects/groups/{group.pk}/score/").status_code == 403
    client.post(f"/projects/conflicts/{conflict.pk}/withdraw/")
    assert not Conflict.objects.exists()
    assert client.get(f"/projects/groups/{group.pk}/score/").status_code == 200


def test_only_the_declaring_judge_or_staff_undo_a_conflict(client_as, judge, make_user, group):
    from accounts.models import Role

    other = make_user(username="judge2", role=Role.JUDGE)
    mine = services.conflict_declare(judge=judge, group=group, reason="my student")
    theirs = services.conflict_declare(judge=other, group=group, reason="cousin")
    with pytest.raises(ProjectError):
        services.conflict_withdraw(user=judge, conflict=theirs)
    client_as("judge").post(f"/projects/conflicts/{theirs.pk}/withdraw/")
    assert Conflict.objects.filter(pk=theirs.pk).exists()
    staff_page = client_as("staff").post(f"/projects/conflicts/{mine.pk}/withdraw/")
    assert staff_page.status_code == 302
    assert not Conflict.objects.filter(pk=mine.pk).exists()


def test_staff_adding_a_conflict_the_judge_declared_makes_it_staffs(client_as, judge, staff, group):
    """Before: staff's add kept the judge's row (and dropped staff's reason), so the judge
    withdrew "their" conflict and scored the group (issue 23)."""
    declared = services.conflict_declare(judge=judge, group=group, reason="my student")
    services.conflict_add(user=staff, judge=judge, group=group, reason="co-author, per the dean")
    conflict = Conflict.objects.get(pk=declared.pk)
    assert conflict.source == ConflictSource.STAFF
    assert conflict.reason == "co-author, per the dean" and conflict.created_by == staff
    with pytest.raises(ProjectError, match="Staff set this conflict"):
        services.conflict_withdraw(user=judge, conflict=declared)  # the judge's stale copy
    client = client_as("judge")
    client.post(f"/projects/conflicts/{conflict.pk}/withdraw/")
    assert Conflict.objects.filter(pk=conflict.pk).exists()
    assert client.get(f"/projects/groups/{group.pk}/score/").status_code == 403
    # Staff still undo it; a judge declaring over staff's conflict changes nothing.
    services.conflict_add(user=staff, judge=judge, group=group, reason="")
    services.conflict_declare(judge=judge, group=group, reason="mine too")
    conflict.refresh_from_db()
    assert conflict.source == ConflictSource.STAFF and conflict.reason == "co-author, per the dean"
    services.conflict_withdraw(user=staff, conflict=conflict)
    assert not Conflict.objects.exists()


def test_a_malformed_group_in_the_staff_conflict_form_asks_to_choose_one(
    client_as, staff, judge, group
):
    # A stale or hand-edited form: a group that is no number is a choice to make, not a 500.
    for value in ("abc", "1.5", "", "\u00b2", "9" * 30):
        response = client_as("staff").post(
            f"/projects/{group.edition.slug}/staff/conflicts/",
            {"judge": judge.username, "group": value},
            follow=True,
        )
        assert response.status_code == 200
        assert "Choose a judge and a group." in response.content.decode()
    assert not Conflict.objects.exists()
