"""factory_boy factories for the platform's models, shared by every platform test."""

from datetime import timedelta

import factory
from django.utils import timezone

from accounts.models import Affiliation, AffiliationSource, Role, User
from accounts.services import email_mark_verified
from courses.models import Edition, Enrollment, Lab
from judging.models import PitchBallot
from projects.models import Conflict, ConflictSource, Membership, ProjectGroup, ProjectSettings

PASSWORD = "pw-for-tests-1"  # noqa: S105


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.edu")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"Person{n}")
    role = Role.STUDENT
    affiliation = Affiliation.MIT_STUDENT
    # Test people stand for roster-imported ones: their affiliation is verified, as staff-made
    # accounts were before self sign-up existed. Tests of self-declared people say so.
    affiliation_source = AffiliationSource.ROSTER

    @factory.post_generation
    def password(self, create, extracted, **kwargs):
        self.set_password(extracted or PASSWORD)
        if create:
            self.save()
            email_mark_verified(self)  # allauth lets only verified emails log in


class EditionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Edition

    name = factory.Sequence(lambda n: f"IAP {2030 + n}")
    slug = factory.Sequence(lambda n: f"iap-{2030 + n}")
    is_current = False


class LabFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lab

    edition = factory.SubFactory(EditionFactory)
    spec_id = factory.Sequence(lambda n: f"lab-test-{n}")
    title = factory.Sequence(lambda n: f"Test lab {n}")
    opens_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    closes_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))


class EnrollmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Enrollment

    edition = factory.SubFactory(EditionFactory)
    user = factory.SubFactory(UserFactory)


# --- final projects ----------------------------------------------------------------------


class ProjectSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProjectSettings

    edition = factory.SubFactory(EditionFactory)
    signup_deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    slides_deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=8))
    review_deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=8))
    min_judges_per_group = 2


class ProjectGroupFactory(factory.django.DjangoModelFactory):
    """A signed-up pitch group; pass members=[users] to fill it."""

    class Meta:
        model = ProjectGroup
        skip_postgeneration_save = True

    edition = factory.SubFactory(EditionFactory)
    name = factory.Sequence(lambda n: f"Group {n}")
    signed_up_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def members(self, create, extracted, **kwargs):
        for user in extracted or []:
            Membership.objects.create(edition=self.edition, group=self, user=user)


class ConflictFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Conflict

    judge = factory.SubFactory(UserFactory, role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    group = factory.SubFactory(ProjectGroupFactory)
    source = ConflictSource.STAFF


class PitchBallotFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PitchBallot

    group = factory.SubFactory(ProjectGroupFactory)
    judge = factory.SubFactory(UserFactory, role=Role.JUDGE, affiliation=Affiliation.PUBLIC)
    novelty = 3
    soundness = 3
    clarity = 3


# --- entries, leaderboards and lab judging -------------------------------------------------


def _participant(lab, user):
    from submissions.models import Participant

    return Participant.objects.get_or_create(lab=lab, user=user)[0]


class EntryFactory(factory.django.DjangoModelFactory):
    """An entry row without grading (pass file= a stored path when the test reads it)."""

    class Meta:
        model = "submissions.Entry"

    lab = factory.SubFactory(LabFactory)
    user = factory.SubFactory(UserFactory)
    participant = factory.LazyAttribute(lambda e: _participant(e.lab, e.user))
    file = factory.Sequence(lambda n: f"entries/test/{n}/entry.zip")
    original_name = "entry.zip"
    size_bytes = 100
    sha256 = factory.Sequence(lambda n: f"{n:064x}")
    kind = "code"
    status = "scored"


class GradingRunFactory(factory.django.DjangoModelFactory):
    """A finished, scored run; pass split_metrics={"public": {...}, "private": {...}}."""

    class Meta:
        model = "submissions.GradingRun"

    entry = factory.SubFactory(EntryFactory)
    status = "scored"
    split_metrics = factory.LazyFunction(dict)
    metrics = factory.LazyAttribute(lambda r: dict(r.split_metrics.get("public", {})))
    finished_at = factory.LazyFunction(timezone.now)


def scored_entry(user, lab, public=None, private=None, created_at=None, details=None, **entry):
    """An entry of `user` in `lab` whose current run is scored with these split metrics."""
    fields = {"created_at": created_at} if created_at else {}
    e = EntryFactory(user=user, lab=lab, **fields, **entry)
    GradingRunFactory(
        entry=e,
        split_metrics={"public": public or {}, "private": private or {}},
        details=details or {},
    )
    standing_refresh(e)
    return e


def standing_refresh(entry) -> None:
    """As the platform does when a run finishes: the student's standing is chosen again, and
    (after the commit, in the site worker's task, which a test's transaction never reaches)
    the lab's board is ranked again."""
    from leaderboards.services import board_refresh
    from submissions.standing import participant_standing_refresh

    participant_standing_refresh(entry.participant)
    board_refresh(lab=entry.lab)


def scored_entry_wrong_on(user, lab, wrong: int, n: int = 400, metric: str = "accuracy"):
    """An entry whose public run is wrong on the first `wrong` of n hidden examples, with its
    per-example outcomes and a +-0.015 interval stored as the grader does (statistical ties:
    the lab must rank by a mean of per-example outcomes, e.g. lab2-mnist's accuracy)."""
    import numpy as np

    from grader import intervals

    correct = np.ones(n)
    correct[:wrong] = 0
    value = float(correct.mean())
    e = EntryFactory(user=user, lab=lab)
    GradingRunFactory(
        entry=e,
        split_metrics={"public": {metric: value}, "private": {}},
        split_intervals={"public": {metric: [value - 0.015, min(1.0, value + 0.015)]}},
        outcomes={"public": intervals.pack_outcomes(correct)},
    )
    standing_refresh(e)
    return e


def final_projects(edition, **extra):
    """Final-project settings whose pitches are over and whose scoring staff closed: the final
    projects are final (prizes may be confirmed only then)."""
    past = timezone.now() - timedelta(days=1)
    fields = {
        "signup_deadline": past - timedelta(days=2),
        "slides_deadline": past - timedelta(days=2),
        "review_deadline": past - timedelta(days=2),
        "scoring_closed_at": past,
    }
    return ProjectSettingsFactory(edition=edition, min_judges_per_group=1, **{**fields, **extra})


def pitch_session(edition, **extra):
    """Final-project settings whose pitch session began an hour ago, scoring still open:
    judges score pitches only from the session on (projects.phases)."""
    began = timezone.now() - timedelta(hours=1)
    fields = {
        "signup_deadline": began - timedelta(days=2),
        "slides_deadline": began - timedelta(days=1),
        "review_deadline": began - timedelta(days=1),
        "pitches_start_at": began,
    }
    return ProjectSettingsFactory(edition=edition, **{**fields, **extra})
