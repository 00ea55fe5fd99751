"""Possible duplicate entries for staff: identical files and outcomes that agree too much."""

import numpy as np
import pytest
from django.urls import reverse

from factories import EntryFactory, GradingRunFactory
from grader import intervals
from leaderboards.selectors import duplicate_pairs
from submissions.standing import participant_standing_refresh

N = 400  # hidden examples per split


def _standing(user, lab, right: np.ndarray, **entry):
    e = EntryFactory(user=user, lab=lab, **entry)
    value = 100.0 * right.mean()
    GradingRunFactory(
        entry=e,
        split_metrics={s: {"debias_accuracy": value} for s in ("public", "private")},
        outcomes={
            "public": intervals.pack_outcomes(right[:N]),
            "private": intervals.pack_outcomes(right[N:]),
        },
    )
    participant_standing_refresh(e.participant)
    return e


def _right(seed, accuracy=0.85):
    return (np.random.default_rng(seed).random(2 * N) < accuracy).astype(float)


def test_identical_and_near_identical_are_flagged_and_distinct_are_not(
    debias, make_user, client_as
):
    a, b, c, d, e = (make_user(username=n, role="student") for n in "abcde")
    base = _right(1)
    near = base.copy()
    near[:3] = 1 - near[:3]  # 3 of 800 examples differ
    ea = _standing(a, debias, base)
    eb = _standing(b, debias, near)
    _standing(c, debias, _right(2))  # another model at the same accuracy
    _standing(d, debias, _right(3, accuracy=0.95))
    # e uploaded the very file d did (and scored differently: a different run is not needed)
    ed = d.entries.get()
    ee = _standing(e, debias, _right(4, accuracy=0.6), sha256=ed.sha256)

    pairs = duplicate_pairs(debias)
    found = {(p.why, frozenset(p.entry_ids)) for p in pairs}
    assert found == {
        ("identical file", frozenset({ed.pk, ee.pk})),
        ("predictions agree", frozenset({ea.pk, eb.pk})),
    }
    agreeing = next(p for p in pairs if p.why == "predictions agree")
    assert agreeing.agreement == pytest.approx(797 / 800) and 0.7 < agreeing.expected < 0.8

    page = client_as("staff").get(reverse("leaderboard-duplicates", args=[debias.pk]))
    html = page.content.decode()
    assert f'href="{reverse("entry-detail", args=[ea.pk])}"' in html
    assert f'href="{reverse("entry-detail", args=[ee.pk])}"' in html
    assert (
        client_as("student").get(reverse("leaderboard-duplicates", args=[debias.pk])).status_code
        == 403
    )


def test_nothing_stands_out_among_independent_entries(debias, make_user):
    for i in range(6):
        _standing(make_user(username=f"s{i}", role="student"), debias, _right(10 + i))
    assert duplicate_pairs(debias) == []
