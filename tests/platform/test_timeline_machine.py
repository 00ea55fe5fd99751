"""The course timeline holds for every sequence of actions (issue 12, acceptance).

A hypothesis state machine plays staff, a judge and students on one lab with a prize:
uploads (the intake service), runs graded to scored (the services that record results:
claim, scoring, scored), final-entry choices, reveals and hides, deadline moves, per-student
extensions, judges' scores, closing and reopening judging, confirming and announcing
prizes, and the clock moving on; beside it a prize lab without judges (in an edition of its
own, so its prize is confirmed on its own) and the final projects' pitch session (ballots,
attendance, the session moved, scoring closed). After every step it checks, against its own
model of the timeline (not the code's):

1. no student sees a private score (entry page metrics, leaderboard default split) unless
   staff revealed it, the lab's deadline has passed since, and their own deadline
   (extensions included) has passed;
2. once a student's window is closed and their runs are all graded, their counted entry
   never changes while it stays closed, nor ever again once the student could see the
   private split (no extension, no reopened deadline, no upload changes it: issue 23);
3. no winner is published or emailed while the lab is not final;
4. every student's standing equals the one recomputed from scratch from their scored runs;
5. a pitch is "presented" exactly when staff marked the group present or a judge's ballot
   was given during the pitches (ballots before the session are refused);
6. no prize lab is left unawarded when an eligible ranked entrant exists: the lab without
   judges gives its prize by its leaderboard.
"""

from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from accounts.models import Role
from awards import services as awards
from awards.models import Category, Prize
from celery_helpers import use_broker
from core.errors import Refused
from courses.models import EntrySelection
from courses.services import extension_grant, lab_deadline_move
from factories import (
    EditionFactory,
    EnrollmentFactory,
    LabFactory,
    ProjectGroupFactory,
    ProjectSettingsFactory,
    UserFactory,
)
from judging import services as judging
from judging.selectors import finalist_entry_id, finalists_of
from leaderboards import services as boards
from leaderboards.selectors import access_leaderboard
from projects import services as projects
from projects.selectors import presented_group_ids
from submissions.models import ACTIVE, Entry, GradingRun, Participant, Status
from submissions.selectors import visible_metrics
from submissions.services import intake, worker
from submissions.services.runs import run_transition
from submissions.standing import entry_can_count
from uploads import LEFT, upload

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)
STUDENTS = 2


class Timeline(RuleBasedStateMachine):
    @initialize()
    def setup(self):
        self.now = timezone.now().replace(microsecond=0)
        self._clock = mock.patch("django.utils.timezone.now", lambda: self.now)
        self._clock.start()
        edition = EditionFactory()
        self.lab = LabFactory(
            edition=edition,
            spec_id="lab3-cartpole",
            title="Lab 3",
            opens_at=self.now - 24 * HOUR,
            closes_at=self.now + 6 * HOUR,
            needs_writeup=False,
            max_entries_per_day=50,
            max_entries_total=50,
            selection=EntrySelection.FINAL,
        )
        Prize.objects.create(edition=edition, category=Category.LAB, lab=self.lab, name="Drone")
        self.staff = UserFactory(role=Role.STAFF)
        self.judge = UserFactory(role=Role.JUDGE)
        judging.judge_assign(lab=self.lab, judge=self.judge, by=self.staff)
        self.students = [UserFactory() for _ in range(STUDENTS)]
        for student in self.students:
            EnrollmentFactory(edition=edition, user=student)
        # A prize lab ranked by its metric alone (no judges), in an edition of its own.
        self.unjudged_edition = EditionFactory()
        self.unjudged = LabFactory(
            edition=self.unjudged_edition,
            spec_id="lab3-cartpole",
            title="Lab 3 (no judges)",
            opens_at=self.now - 24 * HOUR,
            closes_at=self.now + 6 * HOUR,
            needs_writeup=False,
        )
        Prize.objects.create(
            edition=self.unjudged_edition, category=Category.LAB, lab=self.unjudged, name="GPU"
        )
        # The final projects: sign-up is over, the pitch session is 12 hours away.
        self.pitches_start = self.now + 12 * HOUR
        self.project_config = ProjectSettingsFactory(
            edition=edition,
            signup_deadline=self.now - HOUR,
            slides_deadline=self.now - HOUR,
            review_deadline=self.now - HOUR,
            pitches_start_at=self.pitches_start,
            min_judges_per_group=1,
        )
        self.group = ProjectGroupFactory(edition=edition, members=[self.students[0]])
        # The model of the timeline.
        self.closes_at = self.lab.closes_at
        self.extensions: dict[int, object] = {}
        self.revealed = False
        self.judging_closed = False
        self.announced = False  # the lab's winners were announced: nothing reopens it
        self.frozen: dict[int, int | None] = {}  # student -> counted entry, once fixed
        self.saw: set[int] = set()  # students who could see the private split, ever
        self.emails = 0
        self.present = False  # staff marked the group present
        self.ballots_given: list = []  # when the judge's (complete) ballots were saved
        self.pitch_scoring_closed = False
        # Every student starts with a scored entry and one still queued, so every rule has
        # something to act on from the first step.
        for score, student in enumerate(self.students):
            for _ in range(2):
                intake.entry_submit(user=student, lab=self.lab, upload=upload(LEFT), now=self.now)
            self._score(student.entries.order_by("pk").first().runs.get(), score, 10 - score)
        # Every student has a scored entry in the lab without judges: each is a ranked,
        # eligible entrant once its private split is revealed.
        for score, student in enumerate(self.students):
            EnrollmentFactory(edition=self.unjudged_edition, user=student)
            entry = intake.entry_submit(
                user=student, lab=self.unjudged, upload=upload(LEFT), now=self.now
            )
            self._score(entry.runs.get(), score, 10 + score)

    def teardown(self):
        if hasattr(self, "_clock"):
            self._clock.stop()

    # --- the model -------------------------------------------------------------------

    def own_deadline(self, student):
        return max(self.closes_at, self.extensions.get(student.pk, self.closes_at))

    def last_deadline(self):
        return max([self.closes_at, *self.extensions.values()])

    def model_final(self):
        return self.now >= self.last_deadline() and self.revealed and self.judging_closed

    def model_sees_private(self, student):
        return self.revealed and self.now >= self.own_deadline(student)

    def observe(self):
        """Note who can read the private split now (called after every step)."""
        for student in self.students:
            if self.model_sees_private(student):
                self.saw.add(student.pk)

    def model_window_open(self, student):
        """May upload and choose: their own window is open and they never saw the private
        split (issue 23)."""
        return self.now < self.own_deadline(student) and student.pk not in self.saw

    def fresh(self):
        """The lab as the database has it now (deadlines move)."""
        return type(self.lab).objects.get(pk=self.lab.pk)

    # --- students ----------------------------------------------------------------------

    @rule(who=st.integers(0, STUDENTS - 1))
    def upload(self, who):
        student = self.students[who]
        try:
            intake.entry_submit(user=student, lab=self.fresh(), upload=upload(LEFT), now=self.now)
        except Refused:
            assert not self.model_window_open(student), "refused inside the student's window"
        else:
            assert self.model_window_open(student), "accepted outside the window"
            if student.pk in self.saw:
                event("upload after seeing the private split")

    @rule(data=st.data())
    def grade(self, data):
        queued = list(GradingRun.objects.filter(entry__lab=self.lab, status=Status.QUEUED))
        if not queued:
            return
        run = data.draw(st.sampled_from(queued))
        self._score(run, data.draw(st.integers(0, 20)), data.draw(st.integers(0, 20)))

    def _score(self, run, public, private):
        """Record a scored result through the services a grading worker uses."""
        claim = worker.run_claim(run_id=run.pk, worker="machine")
        assert claim is not None
        assert run_transition(run.pk, Status.SCORING, if_claim=claim)
        assert run_transition(
            run.pk,
            Status.SCORED,
            if_claim=claim,
            metrics={"mean_return": float(public)},
            split_metrics={
                "public": {"mean_return": float(public)},
                "private": {"mean_return": float(private)},
            },
        )

    @rule(data=st.data())
    def choose_final(self, data):
        entries = list(Entry.objects.filter(lab=self.lab))
        if not entries:
            return
        entry = data.draw(st.sampled_from(entries))
        # Only an entry that can stand for its student (a scored one) may be chosen, in a
        # window that is open and never reached by the reveal.
        countable = entry_can_count(entry)
        allowed = self.model_window_open(entry.user) and countable
        try:
            intake.entry_mark_final(user=entry.user, entry=entry, now=self.now)
        except Refused:
            assert not allowed
            if countable and self.now < self.own_deadline(entry.user):
                event("counted entry refused to a student who saw the private split")
        else:
            assert allowed

    # --- staff ---------------------------------------------------------------------------

    @rule()
    def reveal(self):
        try:
            boards.lab_private_reveal(lab=self.fresh(), by=self.staff, now=self.now)
        except Refused:
            assert self.now < self.closes_at
        else:
            self.revealed = True
            event("revealed")

    @rule()
    def the_deadline_passes_and_staff_reveal(self):
        """The common course of events, so that many sequences reach a reveal."""
        self.now = max(self.now, self.closes_at)
        self.reveal()

    @rule()
    def hide(self):
        try:
            boards.lab_private_hide(lab=self.fresh(), by=self.staff)
        except Refused:
            assert self.announced, "the reveal could not be withdrawn before an announcement"
            return
        assert not self.announced, "the reveal withdrawn after the winners were announced"
        self.revealed = False

    @rule(hours=st.integers(-24, 24))
    def move_deadline(self, hours):
        closes_at = self.now + hours * HOUR
        if closes_at <= self.lab.opens_at:
            return
        try:
            lab_deadline_move(lab=self.fresh(), closes_at=closes_at, by=self.staff)
        except Refused:
            assert self.announced, "the deadline could not be moved before an announcement"
            return
        assert not self.announced, "a deadline moved after the winners were announced"
        self.closes_at = closes_at
        if closes_at > self.now:
            self.revealed = False  # the reveal does not survive an extension
            # The window reopens, except for whoever could see the private split.
            self.frozen = {pk: entry for pk, entry in self.frozen.items() if pk in self.saw}

    @rule(who=st.integers(0, STUDENTS - 1), hours=st.integers(1, 48))
    def grant_extension(self, who, hours):
        student = self.students[who]
        closes_at = self.now + hours * HOUR
        try:
            extension_grant(
                lab=self.fresh(), user=student, closes_at=closes_at, reason="illness", by=self.staff
            )
        except Refused:
            assert closes_at <= self.closes_at or student.pk in self.saw or self.announced
            if student.pk in self.saw:
                event("extension refused to a student who saw the private split")
        else:
            assert student.pk not in self.saw, "an extension after seeing the private split"
            self.extensions[student.pk] = closes_at
            if self.revealed and self.now >= self.closes_at:
                event("extension after a reveal")
            self.frozen.pop(student.pk, None)

    @rule(hours=st.sampled_from([1, 6, 24]))
    def advance(self, hours):
        self.now += hours * HOUR

    # --- the judge, judging and prizes -----------------------------------------------------

    @rule()
    def judge_scores(self):
        for finalist in finalists_of(self.fresh()):
            entry = Entry.objects.get(pk=finalist_entry_id(finalist))
            try:
                judging.entry_score_submit(
                    judge=self.judge, entry=entry, soundness=4, descriptions=3
                )
            except Refused:
                assert self.judging_closed

    @rule()
    def close_judging(self):
        try:
            judging.lab_judging_close(lab=self.fresh(), by=self.staff, now=self.now)
        except Refused:
            assert self.now < self.last_deadline()
        else:
            self.judging_closed = True

    @rule()
    def reopen_judging(self):
        try:
            judging.lab_judging_reopen(lab=self.fresh(), by=self.staff)
        except Refused:
            assert self.announced, "judging could not be reopened before an announcement"
            return
        assert not self.announced, "judging reopened after the winners were announced"
        self.judging_closed = False

    @rule()
    def confirm_and_announce(self):
        edition = self.fresh().edition
        try:
            snapshot = awards.awards_confirm(edition=edition, by=self.staff)
        except Refused:
            return
        assert self.model_final(), "prizes confirmed while the lab is not final"
        before = len(mail.outbox)
        try:
            awards.awards_announce(snapshot=snapshot, by=self.staff, confirmed=True)
        except Refused:
            assert len(mail.outbox) == before
            return
        assert self.model_final(), "winners announced while the lab is not final"
        self.announced = True  # the lab has a prize: its winners are now told
        event("announced")
        self.emails = len(mail.outbox)

    # --- the lab without judges ------------------------------------------------------------

    @rule(wait=st.booleans())
    def reveal_unjudged(self, wait):
        lab = type(self.lab).objects.get(pk=self.unjudged.pk)
        if wait:  # staff reveal once its deadline has passed
            self.now = max(self.now, lab.closes_at)
        try:
            boards.lab_private_reveal(lab=lab, by=self.staff, now=self.now)
        except Refused:
            assert self.now < lab.closes_at

    @rule()
    def confirm_unjudged_prize(self):
        try:
            snapshot = awards.awards_confirm(edition=self.unjudged_edition, by=self.staff)
        except Refused:
            return
        # Every student has a scored entry and may win: the prize must go to one of them.
        (category,) = snapshot.data["categories"]
        assert category["standings"], "a prize lab without judges has no ranked entrants"
        assert category["awards"], "a prize lab left unawarded with eligible ranked entrants"
        assert {a["key"] for a in category["awards"]} <= {f"user:{s.pk}" for s in self.students}
        event("prize of the lab without judges confirmed")

    # --- the pitch session ----------------------------------------------------------------

    @rule()
    def pitch_ballot(self):
        full = {"novelty": 4, "soundness": 4, "clarity": 5}
        try:
            projects.ballot_save(judge=self.judge, group=self.group, changes=full, now=self.now)
        except Refused:
            assert self.now < self.pitches_start or self.pitch_scoring_closed
        else:
            assert self.now >= self.pitches_start and not self.pitch_scoring_closed
            self.ballots_given.append(self.now)
            event("pitch ballot given")

    @rule(present=st.booleans())
    def mark_present(self, present):
        group = type(self.group).objects.get(pk=self.group.pk)
        try:
            projects.pitch_attendance_mark(
                group=group, by=self.staff, present=present, now=self.now
            )
        except Refused:
            assert self.now < self.pitches_start, "attendance refused during the pitches"
        else:
            assert self.now >= self.pitches_start, "attendance marked before the session"
            self.present = present

    @rule(hours=st.integers(-24, 24))
    def move_pitch_session(self, hours):
        if self.pitch_scoring_closed:
            return
        self.pitches_start = self.now + hours * HOUR
        type(self.project_config).objects.filter(pk=self.project_config.pk).update(
            pitches_start_at=self.pitches_start
        )

    @rule()
    def close_pitch_scoring(self):
        try:
            projects.project_scoring_close(edition=self.group.edition, by=self.staff, now=self.now)
        except Refused:
            # After the one slot (3 minutes) of the session only.
            assert self.now < self.pitches_start + timedelta(minutes=3) or (
                self.pitch_scoring_closed
            )
        else:
            assert self.now >= self.pitches_start + timedelta(minutes=3)
            self.pitch_scoring_closed = True

    # --- the invariants --------------------------------------------------------------------

    @invariant()
    def a_pitch_is_presented_only_with_attendance_or_a_ballot_during_the_pitches(self):
        if not hasattr(self, "students"):
            return
        heard = self.now >= self.pitches_start and any(
            when >= self.pitches_start for when in self.ballots_given
        )
        presented = self.group.pk in presented_group_ids(self.group.edition, now=self.now)
        assert presented == (self.present or heard)

    @invariant()
    def no_private_score_before_the_reveal(self):
        if not hasattr(self, "students"):
            return
        lab = self.fresh()
        for student in self.students:
            expected = self.model_sees_private(student)
            default_split = access_leaderboard(student, lab)
            assert (default_split == "private") == expected
            for entry in Entry.objects.filter(lab=lab, user=student):
                run = entry.runs.order_by("-pk").first()
                shown = visible_metrics(entry, run, student)
                if not expected:
                    assert "private" not in shown, "a private score before the reveal"

    @invariant()
    def counted_entry_of_a_closed_window_never_changes(self):
        if not hasattr(self, "students"):
            return
        self.observe()
        for student in self.students:
            if self.now < self.own_deadline(student) and student.pk not in self.saw:
                self.frozen.pop(student.pk, None)
                continue
            participant = Participant.objects.filter(lab=self.lab, user=student).first()
            if participant is None:
                continue
            if Entry.objects.filter(participant=participant, status__in=ACTIVE).exists():
                continue  # entries uploaded in time still being graded
            counted = participant.standing_run.entry_id if participant.standing_run else None
            if student.pk in self.frozen:
                assert self.frozen[student.pk] == counted, "the counted entry changed"
            else:
                self.frozen[student.pk] = counted

    @invariant()
    def nothing_published_or_emailed_unless_final(self):
        if not hasattr(self, "students"):
            return
        assert len(mail.outbox) == self.emails, "an email outside an announcement"

    @invariant()
    def standings_equal_a_recomputation(self):
        if not hasattr(self, "students"):
            return
        for participant in Participant.objects.filter(lab=self.lab):
            runs = [
                e.runs.order_by("-pk").first()
                for e in Entry.objects.filter(participant=participant).order_by("pk")
            ]
            scored = [r for r in runs if r is not None and r.status == Status.SCORED]
            expected = None
            final = [r for r in scored if r.entry_id == participant.final_entry_id]
            if final:
                expected = final[0].entry_id
            elif scored:
                best = max(
                    scored,
                    key=lambda r: (
                        r.split_metrics["public"]["mean_return"],
                        -r.entry.created_at.timestamp(),
                        -r.entry_id,
                    ),
                )
                expected = best.entry_id
            standing = participant.standing_run.entry_id if participant.standing_run else None
            assert standing == expected


def test_the_timeline_holds_for_every_sequence():
    use_broker("memory://")
    mail.outbox = []
    run_state_machine_as_test(
        Timeline,
        settings=settings(
            max_examples=30,
            stateful_step_count=20,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
