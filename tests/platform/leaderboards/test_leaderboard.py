"""Leaderboards from the database: entry selection, visibility by role and time, baselines,
the staff CSV, API and page agreement, and a bounded number of queries."""

import csv
import io
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Affiliation, Role
from courses.models import EntrySelection
from demo.seeding import baselines_mark_staff_entries
from factories import (
    EditionFactory,
    EntryFactory,
    GradingRunFactory,
    LabFactory,
    UserFactory,
    scored_entry,
)
from leaderboards import services
from leaderboards.selectors import leaderboard_for
from submissions.models import Participant
from submissions.services.intake import entry_mark_final
from submissions.splits import PRIVATE, PUBLIC
from submissions.standing import lab_standings_refresh, participant_standing_refresh

T0 = timezone.now() - timedelta(hours=6)


def _acc(value):
    """A lab2-debias report: mean group AUC value / 100 (what ranks), mean group accuracy
    value (what the assertions read)."""
    return {"mean_group_auc": value / 100, "debias_accuracy": value}


def _board(lab, split=PUBLIC):
    return [
        (r.row.key, r.rank, r.row.metrics.get("debias_accuracy"))
        for r in leaderboard_for(lab, split).rows
    ]


@pytest.fixture
def three_entries(debias, student):
    """Oldest 80 (public) / 70 (private), then 90 / 60, newest 85 / 95."""
    a = scored_entry(student, debias, _acc(80.0), _acc(70.0), created_at=T0)
    b = scored_entry(student, debias, _acc(90.0), _acc(60.0), created_at=T0 + timedelta(hours=1))
    c = scored_entry(student, debias, _acc(85.0), _acc(95.0), created_at=T0 + timedelta(hours=2))
    return a, b, c


def test_best_selection_picks_the_best_public_entry_and_shows_its_private_score(
    three_entries, debias, student
):
    _, best, _ = three_entries
    assert _board(debias) == [(f"user:{student.pk}", 1, 90.0)]
    # The private standings keep the entry chosen on the public split (no picking on private).
    assert _board(debias, PRIVATE) == [(f"user:{student.pk}", 1, 60.0)]
    assert leaderboard_for(debias, PUBLIC).rows[0].row.entry_id == best.pk


def test_latest_selection_picks_the_newest_scored_entry(three_entries, debias, student):
    debias.selection = EntrySelection.LATEST
    debias.save()
    lab_standings_refresh(lab=debias)  # as the admin does when staff change the rule
    # A newer entry that failed does not count.
    EntryFactory(user=student, lab=debias, status="failed", created_at=T0 + timedelta(hours=3))
    assert _board(debias) == [(f"user:{student.pk}", 1, 85.0)]


def test_changing_the_selection_in_the_admin_refreshes_the_standings(
    three_entries, debias, student, rf
):
    # courses sits below submissions: its admin announces the change, submissions re-chooses.
    from types import SimpleNamespace

    from django.contrib.admin.sites import site

    from courses.models import Lab

    debias.selection = EntrySelection.LATEST
    site._registry[Lab].save_model(
        rf.post("/"), debias, SimpleNamespace(changed_data=["selection"]), change=True
    )
    assert _board(debias) == [(f"user:{student.pk}", 1, 85.0)]


def test_final_selection_uses_the_marked_entry_else_the_best(three_entries, debias, student):
    first, _, _ = three_entries
    debias.selection = EntrySelection.FINAL
    debias.save()
    lab_standings_refresh(lab=debias)
    assert _board(debias)[0][2] == 90.0  # nothing marked: the best
    entry_mark_final(user=student, entry=first)
    assert Participant.objects.get(lab=debias, user=student).final_entry == first
    assert _board(debias)[0][2] == 80.0


def test_a_regraded_entry_counts_by_its_newest_run(debias, student):
    entry = scored_entry(student, debias, _acc(90.0))
    GradingRunFactory(entry=entry, split_metrics={"public": _acc(40.0)})
    participant_standing_refresh(entry.participant)  # as recording the new run does
    assert _board(debias)[0][2] == 40.0


def test_ties_share_ranks_and_students_without_scores_come_last(debias, make_user):
    a, b, c, d, idle = (make_user(username=n) for n in ("ann", "bob", "cat", "dan", "idle"))
    scored_entry(a, debias, _acc(70.0))
    scored_entry(b, debias, _acc(90.0))
    scored_entry(c, debias, _acc(70.0))
    scored_entry(d, debias, _acc(60.0))
    EntryFactory(user=idle, lab=debias, status="failed")
    ranks = [(key, rank) for key, rank, _ in _board(debias)]
    assert ranks == [
        (f"user:{b.pk}", 1),
        (f"user:{a.pk}", 2),
        (f"user:{c.pk}", 2),
        (f"user:{d.pk}", 4),
        (f"user:{idle.pk}", None),
    ]


def test_staff_baselines_are_reference_rows_and_other_staff_entries_are_not_shown(
    debias, student, staff
):
    scored_entry(student, debias, _acc(75.0))
    base = scored_entry(staff, debias, _acc(80.0), note="Course baseline")
    assert baselines_mark_staff_entries(lab=debias) == 1
    scored_entry(UserFactory(role=Role.STAFF), debias, _acc(99.0))  # unmarked: not shown
    rows = leaderboard_for(debias, PUBLIC).rows
    assert [(r.row.name, r.rank, r.row.is_reference) for r in rows][:2] == [
        ("Course baseline", None, True),
        (str(student), 1, False),
    ]
    assert base.baseline.label == "Course baseline"
    assert len(rows) == 2
    with pytest.raises(services.LeaderboardRefused):
        services.baseline_mark(entry=scored_entry(student, debias, _acc(1.0)))


def test_prize_eligibility_is_shown_per_row(debias, student, other_student, client_as):
    scored_entry(student, debias, _acc(70.0))  # MIT student
    scored_entry(other_student, debias, _acc(90.0))  # public: competes, no prize
    listener = UserFactory(affiliation=Affiliation.MIT_LISTENER)
    scored_entry(listener, debias, _acc(80.0))
    data = client_as("student").get(reverse("api-leaderboard", args=["lab2-debias"])).json()
    assert [(r["rank"], r["prize_eligible"]) for r in data["rows"]] == [
        (1, False),
        (2, True),
        (3, True),
    ]
    page = client_as("student").get(reverse("leaderboard", args=[debias.pk])).content.decode()
    assert page.count("not eligible") == 1


# --- visibility ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "public", "private_before", "private_revealed"),
    [
        ("anonymous", 401, 401, 401),
        ("student", 200, 403, 200),
        ("judge", 200, 403, 200),
        ("staff", 200, 200, 200),
    ],
)
def test_split_visibility_by_role(
    debias, student, api_as, name, public, private_before, private_revealed
):
    scored_entry(student, debias, _acc(70.0), _acc(65.0))
    api = api_as(name)
    url = reverse("api-leaderboard", args=["lab2-debias"])
    assert api.get(url, {"split": "public"}).status_code == public
    assert api.get(url, {"split": "private"}).status_code == private_before
    debias.closes_at = timezone.now() - timedelta(minutes=1)  # a reveal needs the deadline past
    debias.private_revealed = True
    debias.save()
    response = api.get(url)
    assert response.status_code == private_revealed
    if response.status_code == 200:
        assert response.json()["split"] == "private"  # the default once revealed
        assert response.json()["rows"][0]["metrics"] == _acc(65.0)


def test_the_page_shows_the_public_split_while_open(debias, student, client_as):
    scored_entry(student, debias, _acc(70.5), _acc(65.25))
    html = client_as("student").get(reverse("leaderboard", args=[debias.pk])).content.decode()
    assert "70.500" in html and "65.250" not in html
    assert (
        client_as("student")
        .get(reverse("leaderboard", args=[debias.pk]), {"split": "private"})
        .status_code
        == 403
    )


def test_staff_cannot_reveal_before_the_deadline(debias, staff, client_as):
    with pytest.raises(services.LeaderboardRefused, match="after the deadline"):
        services.lab_private_reveal(lab=debias, by=staff)
    response = client_as("staff").post(reverse("leaderboard-reveal", args=[debias.pk]), follow=True)
    assert "only after the deadline" in response.content.decode()
    debias.refresh_from_db()
    assert not debias.private_revealed


def test_staff_reveal_after_the_deadline_and_students_cannot(debias, staff, student, client_as):
    debias.opens_at = timezone.now() - timedelta(days=9)
    debias.closes_at = timezone.now() - timedelta(minutes=1)
    debias.save()
    with pytest.raises(services.LeaderboardRefused):
        services.lab_private_reveal(lab=debias, by=student)
    client_as("staff").post(reverse("leaderboard-reveal", args=[debias.pk]))
    debias.refresh_from_db()
    assert debias.private_revealed


# --- CSV ------------------------------------------------------------------------------------


def test_csv_is_for_staff_and_defuses_formulas(debias, client_as, make_user):
    evil = make_user(username="evil", first_name='=HYPERLINK("x")', last_name="")
    scored_entry(evil, debias, {"debias_accuracy": 80.0, "group_accuracy_variance": -1.5})
    url = reverse("leaderboard-csv", args=[debias.pk])
    assert client_as("student").get(url).status_code == 403
    response = client_as("staff").get(url)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    header, row = rows[0], rows[1]
    assert header[:3] == ["rank", "tied", "name"]
    assert row[2] == '\'=HYPERLINK("x")'
    assert row[header.index("group_accuracy_variance")] == "'-1.5"
    assert row[header.index("debias_accuracy")] == "80.0"


# --- API and page agree, in a bounded number of queries -------------------------------------


def _page_ranks(html: str) -> list[tuple[str, str]]:
    return re.findall(r'data-key="([^"]+)" data-rank="([^"]*)"', html)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([None, 0.6, 0.7, 0.7, 0.855]), st.sampled_from([None, 0.5, 0.55])
        ),
        max_size=8,
    ),
    st.sampled_from(list(EntrySelection)),
)
def test_api_and_page_always_agree(staff, client_as, api_as, entries, selection):
    lab = LabFactory(edition=EditionFactory(), spec_id="lab2-debias", selection=selection)
    users = [UserFactory() for _ in range(3)]
    for i, (primary, worst) in enumerate(entries):
        metrics = {
            k: v
            for k, v in (("mean_group_auc", primary), ("worst_group_auc", worst))
            if v is not None
        }
        scored_entry(users[i % 3], lab, metrics, metrics, created_at=T0 + timedelta(minutes=i))
    scored_entry(staff, lab, _acc(70.0))
    baselines_mark_staff_entries(lab=lab)
    for split in ("public", "private"):
        api = (
            api_as("staff")
            .get(
                reverse("api-leaderboard", args=["lab2-debias"]),
                {"edition": lab.edition.slug, "split": split},
            )
            .json()
        )
        html = (
            client_as("staff")
            .get(reverse("leaderboard", args=[lab.pk]), {"split": split})
            .content.decode()
        )
        assert _page_ranks(html) == [(r["key"], str(r["rank"] or "")) for r in api["rows"]]


@pytest.mark.parametrize("count", [5, 50])
def test_the_api_answers_in_a_bounded_number_of_queries(
    debias, staff, api_as, django_assert_max_num_queries, count
):
    for i in range(count):
        user = UserFactory()
        scored_entry(user, debias, _acc(float(i % 7)), created_at=T0 + timedelta(minutes=i))
        if i % 2:
            scored_entry(user, debias, _acc(float(i % 5)), created_at=T0 + timedelta(minutes=i + 1))
    scored_entry(staff, debias, _acc(3.0))
    baselines_mark_staff_entries(lab=debias)
    api = api_as("student")
    with django_assert_max_num_queries(7):
        response = api.get(reverse("api-leaderboard", args=["lab2-debias"]))
    assert response.status_code == 200
    assert len(response.json()["rows"]) == count + 1


def test_whole_counts_read_as_whole_numbers_on_the_board(cartpole, student, client_as):
    # One formatting rule for every page (core.scoring.metric_text): a lab spec's `integer`
    # metric is a whole count; other metrics keep three decimals, with their interval.
    entry = scored_entry(student, cartpole, {"mean_return": 9.5, "episodes": 5.0})
    run = entry.runs.get()
    run.split_intervals = {"public": {"mean_return": [8.75, 10.25]}}
    run.save()
    participant_standing_refresh(Participant.objects.get(user=student, lab=cartpole))
    services.board_refresh(lab=cartpole)
    html = client_as("student").get(reverse("leaderboard", args=[cartpole.pk])).content.decode()
    row = html.split('id="you"', 1)[1].split("</tr>", 1)[0]
    cells = [
        re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r'<td class="num">(.*?)</td>', row)
    ]
    assert cells == ["9.500[8.750, 10.250]", "–", "5"]
