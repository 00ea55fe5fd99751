"""`python -m bench --only course`: a whole edition rehearsed end to end over HTTP, with faults.

Real parts throughout: gunicorn, PostgreSQL, our own redis-server, two grading workers on the
process backend, the site-queue worker and the beat, and a real SMTP server on loopback for
the site's mail. The script only does what people do over HTTP (staff in the admin and the
staff pages, students in the browser form and the notebook API, judges on phone-sized
pages); the database is read to check, never written.

The timeline: people arrive (a roster imported by staff and claimed by the emailed links,
the public signing up and verifying), staff create the edition and every demo lab with its
deadline a few minutes after the one before, uploads arrive open-loop with a deadline curve
(most in the last fifth of each window), extensions are granted (two in a lab's last
minutes), a few students choose their counted entry, the final projects run beside the
labs, and one fault lands in each of the first rushes: a grading worker SIGKILLed, Redis
restarted, PostgreSQL restarted, the site restarted. After the last window: judges score,
staff reveal, close scoring, confirm and announce; the pass report must be complete.

After every step the invariants of the timeline property test are checked (see
`Checks`), and the figures the README's bench table shows are taken.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import traceback
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .course_forms import form_with_action, messages_of
from .course_web import PHONE, MailSink, Person, Timings, expect
from .data import ENTRIES_DIR, entry_bytes
from .report import Report, percentile
from .rush import recorded_twice
from .stack import REPO, Stack, wait_until

PASSWORD = "rehearsal-6s191-pw"  # noqa: S105 - the throw-away accounts of a loopback run
ZONE = "America/New_York"
WRITEUP_LABS = ("lab2-debias",)
FINAL_LABS = ("lab2-debias", "lab3-cartpole")  # the entry marked final counts (else the best)
WRITEUP = (
    "# Our debiased face detector\n\nWe resampled the training faces by their latent skin tone.\n"
)
# Hostile code entries (each the entry's own fault: failed or invalid, never a platform error).
HOSTILE = {
    "hog.py": b"import numpy as np\nX = np.ones((1 << 34,), dtype=np.uint8)\n\n\n"
    b"def predict(images):\n    return X[: len(images)]\n",
    "fork.py": b"import os\nfor _ in range(10000):\n    try:\n        os.fork()\n"
    b"    except OSError:\n        break\n\n\n"
    b"def predict(images):\n    return [0.5] * len(images)\n",
    "snoop.py": b"import os, socket\nopen('/proc/1/environ').read()\n"
    b"socket.create_connection(('1.1.1.1', 80), timeout=2)\n\n\n"
    b"def predict(images):\n    return [0.5] * len(images)\n",
}


@dataclass
class Size:
    roster: int = 500
    public: int = 50
    judges: int = 8
    staff: int = 3
    groups: int = 60
    reviews: int = 20
    extensions: int = 10
    labs: tuple[str, ...] = ()  # () = every lab of the demo
    participation: float = 0.3  # share of the students entering each lab
    # Of the uploads: real Keras / PyTorch models. Each is load-checked at upload and graded
    # twice, ~20 s of a core: the share is what the issue lets shrink to keep the wall time.
    model_share: float = 0.02
    hostile_share: float = 0.02
    first_deadline_min: float = 6.0
    deadline_gap_min: float = 3.0
    faults: tuple[str, ...] = ("worker", "redis", "postgres", "site")
    quota_total: int = 4  # per student and lab: "quotas bite"

    @classmethod
    def smoke(cls) -> Size:
        return cls(
            roster=24,
            public=4,
            judges=3,
            staff=2,
            groups=4,
            reviews=2,
            extensions=2,
            labs=("lab3-cartpole",),
            participation=0.8,
            model_share=0.0,
            hostile_share=0.05,
            first_deadline_min=2.5,
            deadline_gap_min=1.0,
            faults=("worker",),
        )


@dataclass
class LabPlan:
    spec_id: str
    closes_at: datetime
    opens_at: datetime
    lab_id: int = 0
    uploads: list[tuple[float, str, str]] = field(default_factory=list)  # (t, who, kind)
    closed_private_s: float | None = None


def with_writeup(name: str, content: bytes) -> tuple[str, bytes]:
    """The entry as a .zip with its writeup.md beside it (a .zip entry gets one added)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        if name.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(content)) as entry:
                for member in entry.infolist():
                    out.writestr(member, entry.read(member))
        else:
            out.writestr(name, content)
        out.writestr("writeup.md", WRITEUP)
    return f"{name.rsplit('.', 1)[0]}.zip", buffer.getvalue()


def refusal_reason(answer) -> str:
    """What the site told a refused upload: the API's detail, or the page's error message
    (or the form's field error)."""
    if answer.headers.get("Content-Type", "").startswith("application/json"):
        return f"{answer.status_code}: {str(answer.json().get('detail'))[:160]}"
    found = re.search(r'<li class="error">(.*?)</li>', answer.text, re.S) or re.search(
        r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', answer.text, re.S
    )
    text = re.sub(r"<[^>]+>", " ", found.group(1)) if found else "(no message on the page)"
    return f"{answer.status_code}: {' '.join(text.split())[:160]}"


class Processes:
    """The site-queue worker and the beat, beside the Stack's grading workers."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.procs: dict[str, subprocess.Popen] = {}

    def start(self, name: str, args: list[str]) -> None:
        log = (self.stack.env.root / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", *args],
            cwd=REPO,
            env=self.stack.env.process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def start_all(self) -> None:
        self.start("site-worker", ["worker", "-Q", "site", "-P", "solo", "-n", "site@%h"])
        sched = self.stack.env.root / "beat-schedule"
        self.start("beat", ["beat", "-s", str(sched), "-l", "INFO"])

    def restart(self, name: str, args: list[str]) -> None:
        self.stop(name)
        self.start(name, args)

    def stop(self, name: str) -> None:
        process = self.procs.pop(name, None)
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)

    def close(self) -> None:
        for name in list(self.procs):
            self.stop(name)


class Memory:
    """Peak memory (PSS) of the site (gunicorn, all its processes together) and of each
    grading worker (the worker and its sandboxes), sampled every ten seconds."""

    def __init__(self) -> None:
        self.peak: Counter = Counter()

    @staticmethod
    def tree_rss(pid: int) -> int:
        """Proportional set size of a process and its descendants: a page shared by N of
        them counts 1/N to each (RSS counted a fork bomb's shared pages hundreds of times)."""
        total, todo = 0, [pid]
        while todo:
            p = todo.pop()
            try:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            total += int(line.split()[1]) * 1024
                with open(f"/proc/{p}/task/{p}/children") as f:
                    todo += [int(c) for c in f.read().split()]
            except (OSError, ValueError):
                continue
        return total

    def sample(self, stack: Stack, others: Processes) -> None:
        if stack.site is not None:
            self.peak["site"] = max(self.peak["site"], self.tree_rss(stack.site.process.pid))
        # Copies: a fault restarts processes in another thread while this samples.
        for i, worker in enumerate(list(stack.workers)):
            key = f"grading_worker_{i + 1}"
            self.peak[key] = max(self.peak[key], self.tree_rss(worker.process.pid))
        for name, process in list(others.procs.items()):
            self.peak[name] = max(self.peak[name], self.tree_rss(process.pid))


@contextmanager
def snapshot():
    """The database as of one moment for every read inside: a run recorded between two of
    the checks' queries (the participant's standing, then its entries) is not a mismatch."""
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield


class Checks:
    """The timeline's invariants, over HTTP and in the database, after every step."""

    def __init__(self, rehearsal: Rehearsal) -> None:
        self.r = rehearsal
        self.frozen: dict[tuple[int, int], int | None] = {}  # (lab, user) -> counted entry
        self.failures: list[str] = []
        self.rounds = 0

    def fail(self, text: str) -> None:
        if text not in self.failures:
            self.failures.append(text)
            print(f"  CHECK FAILED: {text}", flush=True)

    def all(self) -> None:
        from django.db import connections

        self.rounds += 1
        try:
            self.no_private_before_reveal()
            with snapshot():
                self.counted_entries_frozen()
                self.standings_recomputed()
            self.nothing_announced_unless_final()
        except Exception as exc:  # noqa: BLE001 - a database restart may interrupt a check
            if not self.r.timings.in_fault.is_set():
                raise
            print(f"  note: a check was interrupted by the fault ({type(exc).__name__})")
        finally:
            connections.close_all()

    def no_private_before_reveal(self) -> None:
        """Before a lab's reveal its private board is refused to students, and the newest
        entries (their owners asking, in the notebook API) show no private figure."""
        from courses.models import Lab
        from submissions.models import Entry

        people = {p.username: p for p in self.r.students}
        for lab in Lab.objects.filter(edition__slug=self.r.edition_slug, private_revealed=False):
            newest = Entry.objects.filter(lab=lab).select_related("user").order_by("-pk")[:3]
            owners = [(e.pk, people[e.user.username]) for e in newest if e.user.username in people]
            for entry_id, owner in owners:
                board = owner.api("GET", f"/api/labs/{lab.spec_id}/leaderboard/?split=private")
                if board.status_code == 200:
                    self.fail(f"{lab.spec_id}: the private board answered before the reveal")
                shown = owner.api("GET", f"/api/entries/{entry_id}/")
                expect(shown, 200, f"entry {entry_id} as its owner")
                data = shown.json()
                if "private" in (data["metrics"] or {}) or data["private_session"]:
                    self.fail(f"entry {entry_id}: a private figure before the reveal")

    @staticmethod
    def _busy(lab) -> set[int]:
        """Participants with an entry still being graded (uploaded in time, not settled)."""
        from submissions.models import ACTIVE, Entry

        busy = Entry.objects.filter(lab=lab, status__in=ACTIVE)
        return set(busy.values_list("participant_id", flat=True))

    def counted_entries_frozen(self) -> None:
        from django.utils import timezone

        from courses.models import Lab
        from submissions.models import Participant

        now = timezone.now()
        for lab in Lab.objects.filter(edition__slug=self.r.edition_slug, closes_at__lt=now):
            extended = self.r.extended.get(lab.spec_id, {})
            busy = self._busy(lab)
            for p in Participant.objects.filter(lab=lab).select_related("standing_run"):
                if extended.get(p.user_id, lab.closes_at) > now or p.pk in busy:
                    continue
                counted = p.standing_run.entry_id if p.standing_run else None
                key = (lab.pk, p.user_id)
                if key in self.frozen and self.frozen[key] != counted:
                    self.fail(f"{lab.spec_id}: user {p.user_id}'s counted entry changed")
                self.frozen.setdefault(key, counted)

    def standings_recomputed(self) -> None:
        """Every standing equals one chosen from scratch from the scored runs (the lab's
        rule, written again here); the published public board shows exactly those. A few
        queries a lab, not a few per entry: the checks share the rehearsal's two cores."""
        from courses.models import Lab
        from grader.specs import load_spec
        from submissions.models import Entry, GradingRun, Participant, Status

        for lab in Lab.objects.filter(edition__slug=self.r.edition_slug):
            spec = load_spec(lab.spec_id)
            busy = self._busy(lab)
            newest_public: dict[int, GradingRun] = {}
            runs = GradingRun.objects.filter(entry__lab=lab, split="public").order_by("pk")
            for run in runs.only("id", "entry_id", "status", "split_metrics"):
                newest_public[run.entry_id] = run  # ordered by pk: the newest stays
            entries: dict[int, list] = {}
            for entry in Entry.objects.filter(lab=lab).order_by("pk"):
                entries.setdefault(entry.participant_id, []).append(entry)
            for p in Participant.objects.filter(lab=lab).select_related("standing_run"):
                if p.pk in busy:
                    continue
                scored = []
                for entry in entries.get(p.pk, []):
                    run = newest_public.get(entry.pk)
                    if run is not None and run.status == Status.SCORED:
                        scored.append((entry, run))
                expected = None
                finals = [e.pk for e, _ in scored if e.pk == p.final_entry_id]
                if lab.selection == "final" and finals:
                    expected = finals[0]
                elif scored and lab.selection == "latest":
                    expected = max(scored, key=lambda er: (er[0].created_at, er[0].pk))[0].pk
                elif scored:
                    expected = min(
                        scored,
                        key=lambda er: (
                            spec.sort_key((er[1].split_metrics or {}).get("public") or {}),
                            er[0].created_at,
                            er[0].pk,
                        ),
                    )[0].pk
                standing = p.standing_run.entry_id if p.standing_run else None
                if standing != expected:
                    self.fail(
                        f"{lab.spec_id}: user {p.user_id} stands with entry {standing}, "
                        f"recomputed {expected}"
                    )

    def board_published(self, lab_spec: str) -> None:
        """The public board as the API publishes it: a row for every student who entered,
        showing the public figures of the run that stands for them (none if nothing was
        scored). The board is ranked by the site worker after each change: a few tries."""
        problem = None
        for _ in range(10):
            problem = self._board_problem(lab_spec)
            if problem is None:
                return
            time.sleep(3)
        self.fail(f"{lab_spec}: {problem}")

    def _board_problem(self, lab_spec: str) -> str | None:
        from submissions.models import Participant

        staff = self.r.staff[0]
        rows: list[dict] = []
        page = 1
        while True:
            answer = staff.get(
                f"/api/labs/{lab_spec}/leaderboard/?split=public&page={page}&page_size=500",
                kind="leaderboard_api",
            )
            expect(answer, 200, f"{lab_spec} leaderboard")
            data = answer.json()
            rows += data["rows"]
            if page >= data["pages"]:
                break
            page += 1
        shown = {r["key"]: r["metrics"] for r in rows if r["key"].startswith("user:")}
        expected = {}
        for p in Participant.objects.filter(
            lab__spec_id=lab_spec, lab__edition__slug=self.r.edition_slug, user__role="student"
        ).select_related("standing_run"):
            run = p.standing_run
            expected[f"user:{p.user_id}"] = ((run.split_metrics or {}) if run else {}).get(
                "public"
            ) or {}
        if set(shown) != set(expected):
            extra, missing = len(set(shown) - set(expected)), len(set(expected) - set(shown))
            return f"the board has {extra} rows too many and {missing} missing"
        for key, metrics in expected.items():
            for name, value in metrics.items():
                got = shown[key].get(name)
                if isinstance(value, int | float) and (
                    not isinstance(got, int | float) or abs(got - value) > 1e-6 * max(1, abs(value))
                ):
                    return f"{key} shows {name} = {got}, its standing run has {value}"
        return None

    def nothing_announced_unless_final(self) -> None:
        subjects = [m["Subject"] or "" for m in self.r.mail.messages]
        winners = [s for s in subjects if "you won" in s.lower()]
        if winners and not self.r.announced:
            self.fail(f"a winners' email before the announcement: {winners[0]}")

    def emails_once(self) -> None:
        # A project invitation is sent again when a group invites someone again after they
        # declined: those are counted exactly, per invitation, by check_project_mail.
        seen = Counter(
            (m["X-Rcpt"], m["Subject"], self.r.mail.body(m))
            for m in self.r.mail.messages
            if "invited you to the group" not in (m["Subject"] or "")
        )
        twice = [key for key, n in seen.items() if n > 1]
        for rcpt, subject, _ in twice[:5]:
            self.fail(f"an email sent twice: {subject!r} to {rcpt}")


class Rehearsal:
    def __init__(self, stack: Stack, report: Report, args, size: Size) -> None:
        self.stack = stack
        self.report = report
        self.args = args
        self.size = size
        self.rng = random.Random(args.seed)
        self.timings = Timings()
        self.mail: MailSink = None  # type: ignore[assignment]
        self.others = Processes(stack)
        self.memory = Memory()
        self.edition_slug = "rehearsal"
        self.staff: list[Person] = []
        self.judges: list[Person] = []
        self.students: list[Person] = []
        self.entry_ids: list[int] = []
        self.refused: Counter = Counter()
        self.refusals: Counter = Counter()  # why, as the site said it
        self.extended: dict[str, dict[int, datetime]] = {}
        self.labs: list[LabPlan] = []
        self.announced = False
        self.faults_done: list[str] = []
        self.checks = Checks(self)
        self.lock = threading.Lock()
        self.t0 = 0.0
        self.groups: list[dict] = []
        self.finals: set[int] = set()  # entries students chose before the close
        self.extended_names: set[str] = set()
        self.reviewers: list[str] = []

    # -- the stack ------------------------------------------------------------------------
    def start(self) -> None:
        self.mail = MailSink()
        os.environ.update(self.mail.env())  # every process the stack starts sends here
        if self.stack.site is not None:  # started by an earlier section, without our mail
            self.stack._stop_site()
        self.stack.start_site()
        for _ in range(self.args.rush_workers):
            self.stack.start_worker()
        self.others.start_all()

    def close(self) -> None:
        self.others.close()
        if self.mail is not None:
            self.mail.stop()

    def base(self) -> str:
        assert self.stack.site is not None
        return self.stack.site.base_url

    def person(self, username: str, phone: bool = False) -> Person:
        return Person(self.base(), self.timings, username, phone=phone)

    # -- setting up ----------------------------------------------------------------------
    def first_staff(self) -> Person:
        """The first superuser, made by the operator's command (nobody can log in yet to
        make one over HTTP); everything after it is done on the site."""
        from . import course_people as people

        people.create_superuser(self.stack.env, "staff0", "staff0@mit.edu", PASSWORD)
        staff = self.person("staff0")
        people.login_confirming(staff, self.mail, "staff0@mit.edu", PASSWORD)
        return staff

    def admin_add(self, staff: Person, model: str, values: dict[str, str]) -> None:
        from . import course_people as people

        people.admin_form_submit(staff, f"/admin/{model}/add/", dict(values))

    def create_edition(self, staff: Person) -> None:
        """Last edition stops being the current one, and this one starts (in the admin)."""
        from courses.models import Edition

        from . import course_people as people

        for pk in Edition.objects.filter(is_current=True).values_list("pk", flat=True):
            people.admin_form_submit(
                staff, f"/admin/courses/edition/{pk}/change/", {"is_current": None}
            )
        self.admin_add(
            staff,
            "courses/edition",
            {"name": "Rehearsal 2027", "slug": self.edition_slug, "time_zone": ZONE}
            | {"is_current": "on"},
        )
        self.edition_id = Edition.objects.get(slug=self.edition_slug).pk

    def create_labs(self, staff: Person) -> None:
        """Every lab with its own window, deadlines a few minutes apart from now, and a prize
        for each lab and for the final projects (what the announcement gives)."""
        from .data import LABS

        specs = list(self.size.labs or LABS)
        edition_id = self.edition_id
        zone = ZoneInfo(ZONE)
        now = datetime.now(zone).replace(microsecond=0)
        opens = now - timedelta(minutes=1)
        for position, spec_id in enumerate(specs):
            closes = now + timedelta(
                minutes=self.size.first_deadline_min + position * self.size.deadline_gap_min
            )
            self.admin_add(
                staff,
                "courses/lab",
                {
                    "edition": str(edition_id),
                    "spec_id": spec_id,
                    "title": spec_id,
                    "position": str(position),
                    "opens_at_0": opens.strftime("%Y-%m-%d"),
                    "opens_at_1": opens.strftime("%H:%M:%S"),
                    "closes_at_0": closes.strftime("%Y-%m-%d"),
                    "closes_at_1": closes.strftime("%H:%M:%S"),
                    "max_entries_per_day": str(self.size.quota_total),
                    "max_entries_total": str(self.size.quota_total),
                    "max_upload_mb": "50",
                    "selection": "final" if spec_id in FINAL_LABS else "best",
                    # The debiasing lab asks for a write-up, as the course's does; the rest
                    # take the entry alone.
                    "needs_writeup": "on" if spec_id in WRITEUP_LABS else None,
                },
            )
            self.labs.append(LabPlan(spec_id, closes, opens))
        from courses.models import Lab

        for plan in self.labs:
            plan.lab_id = Lab.objects.get(edition__slug=self.edition_slug, spec_id=plan.spec_id).pk
            prize = {"edition": str(edition_id), "category": "lab", "lab": str(plan.lab_id)}
            prize |= {"name": "Headphones", "quantity": "2", "position": "1"}
            self.admin_add(staff, "awards/prize", prize)
        prize = {"edition": str(edition_id), "category": "project", "lab": ""}
        self.admin_add(staff, "awards/prize", prize | {"name": "A GPU", "quantity": "3"})
        if self.size.groups:
            from . import course_projects as projects

            last = self.labs[-1].closes_at
            projects.staff_open_projects(staff, last, last, last, zone=ZONE)
        print(f"  edition and {len(self.labs)} labs created by staff in the admin", flush=True)

    def people(self) -> None:
        from . import course_people as people

        rng = self.rng
        staff0 = self.first_staff()
        self.create_edition(staff0)
        others, self.judges = people.make_staff_and_judges(
            self.mail, staff0, self.size.staff - 1, self.size.judges, PASSWORD
        )
        self.staff = [staff0, *others]
        rows = people.roster_rows(self.size.roster, rng)
        people.import_roster(self.staff[0], rows)

        def claim(row: dict) -> Person:
            p = self.person(row["username"])
            people.claim_invitation(p, self.mail, row["email"], PASSWORD)
            p.email = row["email"]
            return p

        def join(i: int) -> Person:
            p = self.person(f"pub{i:04d}")
            p.email = f"pub{i:04d}@example.org"
            people.sign_up(p, self.mail, p.email, PASSWORD)
            return p

        with ThreadPoolExecutor(max_workers=6) as pool:
            roster = list(pool.map(claim, rows))
            public = list(pool.map(join, range(self.size.public)))
            self.students = roster + public
            list(pool.map(people.api_token, self.students))
        print(
            f"  people: {len(rows)} from the roster, {len(public)} signed up, "
            f"{len(self.judges)} judges, {len(self.staff)} staff",
            flush=True,
        )

    # -- uploads --------------------------------------------------------------------------
    def entry_pool(self, spec_id: str) -> dict[str, list[tuple[str, bytes]]]:
        """Per kind ('code', 'model', 'hostile'): uploadable (name, bytes) of this lab."""
        index = json.loads((ENTRIES_DIR / "index.json").read_text())[spec_id]
        pool: dict[str, list[tuple[str, bytes]]] = {"code": [], "model": [], "hostile": []}
        for name, info in index.items():
            upload = entry_bytes(ENTRIES_DIR / info["path"])
            if info["expect"] != "scored":
                if name in ("crash", "nan", "wrong_shape"):
                    pool["hostile"].append(upload)
            elif info["format"] == "code":
                pool["code"].append(upload)
            else:
                pool["model"].append(upload)
        if spec_id.startswith("lab2"):
            pool["hostile"] += list(HOSTILE.items())
        if spec_id in WRITEUP_LABS:
            pool = {kind: [with_writeup(*u) for u in ups] for kind, ups in pool.items()}
        return pool

    def plan_uploads(self) -> None:
        size, rng = self.size, self.rng
        for plan in self.labs:
            window = (plan.closes_at - plan.opens_at).total_seconds()
            start = self.t0 + (plan.opens_at.timestamp() - time.time())
            entrants = rng.sample(self.students, round(len(self.students) * size.participation))
            for who in entrants:
                for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):  # 5: the quota bites
                    late = rng.random() < 0.8  # most in the last fifth of the window
                    u = rng.uniform(0.8, 0.985) if late else rng.uniform(0.05, 0.8)
                    draw = rng.random()
                    kind = (
                        "hostile"
                        if draw < size.hostile_share
                        else "model"
                        if draw < size.hostile_share + size.model_share
                        else "code"
                    )
                    plan.uploads.append((start + u * window, who.username, kind))
            plan.uploads.sort()

    def upload(self, plan: LabPlan, who: Person, kind: str, pools: dict) -> None:
        choices = pools[plan.spec_id][kind] or pools[plan.spec_id]["code"]
        name, content = self.rng.choice(choices)
        browser = self.rng.random() < 0.4
        if browser:
            answer = who.post_form(
                f"/labs/{plan.lab_id}/",
                {"note": "rehearsal"},
                {"file": (name, content)},
                kind="upload",
            )
            ok = answer.status_code == 302 and "/entries/" in answer.headers.get("Location", "")
            entry_id = int(answer.headers["Location"].rstrip("/").split("/")[-1]) if ok else 0
            refused = answer.status_code in (200, 302) and not ok
        else:
            answer = who.api(
                "POST", f"/api/labs/{plan.spec_id}/entries/", kind="upload",
                files={"file": (name, content)},
            )  # fmt: skip
            ok = answer.status_code == 201
            entry_id = int(answer.json()["id"]) if ok else 0
            refused = answer.status_code in (400, 403, 409, 429)
        with self.lock:
            if ok:
                self.entry_ids.append(entry_id)
            elif refused:
                self.refused[plan.spec_id] += 1
                self.refusals[refusal_reason(answer)] += 1
            else:
                self.timings.server_errors.append(
                    f"upload {plan.spec_id}: HTTP {answer.status_code} {answer.text[:120]}"
                )

    # -- the main loop -------------------------------------------------------------------
    def run(self) -> None:
        from . import course_people as people

        began = time.monotonic()
        self.people()
        staff = self.staff[0]
        self.create_labs(staff)
        self.t0 = time.time()
        self.plan_uploads()
        pools = {plan.spec_id: self.entry_pool(plan.spec_id) for plan in self.labs}
        by_name = {p.username: p for p in self.students}
        events: list[tuple[float, str, object]] = []
        for plan in self.labs:
            for t, who, kind in plan.uploads:
                events.append((t, "upload", (plan, by_name[who], kind)))
            # Faults: one in each of the first rushes, a minute before the deadline.
        for plan, fault in zip(self.labs, self.size.faults, strict=False):
            events.append((plan.closes_at.timestamp() - 50, "fault", fault))
        # Extensions: most at the start, two in a lab's last minutes.
        extended = self.rng.sample(self.students, min(self.size.extensions, len(self.students)))
        for i, who in enumerate(extended):
            plan = self.labs[i % len(self.labs)]
            when = time.time() + 5 if i >= 2 else plan.closes_at.timestamp() - 90 + 30 * i
            events.append((when, "extend", (plan, who)))
        for plan in self.labs:
            events.append((plan.closes_at.timestamp() - 0.2 * self.window_s(plan), "rush", plan))
            events.append((plan.closes_at.timestamp() + 5, "closed", plan))
            if plan.spec_id in FINAL_LABS:
                events.append((plan.closes_at.timestamp() - 25, "finals", plan))
        events.sort(key=lambda e: e[0])
        total = sum(len(p.uploads) for p in self.labs)
        print(f"  {total} uploads planned over {len(self.labs)} labs", flush=True)

        projects_done = threading.Event()
        project_errors: list[str] = []

        def final_projects() -> None:
            try:
                self.groups, self.reviewers = self.final_projects()
            except Exception:  # noqa: BLE001 - reported as a failed check
                project_errors.append(traceback.format_exc())
            finally:
                projects_done.set()

        if self.size.groups:
            threading.Thread(target=final_projects, daemon=True).start()
        else:
            projects_done.set()
        with ThreadPoolExecutor(max_workers=24) as pool:
            futures = []
            next_check = time.time() + 10
            for when, what, data in events:
                while time.time() < when:
                    if time.time() >= next_check:
                        self.tick()
                        next_check = time.time() + 10
                    time.sleep(min(0.05, max(0.0, when - time.time())))
                if what == "upload":
                    plan, who, kind = data  # type: ignore[misc]
                    futures.append(pool.submit(self.upload, plan, who, kind, pools))
                elif what == "fault":
                    futures.append(pool.submit(self.fault, data))
                elif what == "extend":
                    plan, who = data  # type: ignore[misc]
                    asked = plan.closes_at + timedelta(minutes=2)
                    # The form takes whole minutes: the deadline granted is the one it says.
                    until = people.grant_extension(
                        staff, plan.lab_id, who.username, asked, "rehearsal"
                    )
                    self.extended.setdefault(plan.spec_id, {})[self.user_id(who)] = until
                    self.extended_names.add(who.username)
                    late = until.timestamp() - 40
                    futures.append(pool.submit(self.later, late, plan, who, pools))
                elif what == "rush":
                    self.timings.rushing.set()
                    self.rush_reads(data)  # type: ignore[arg-type]
                elif what == "closed":
                    self.timings.rushing.clear()
                    self.choose_finals(data, closed=True)  # type: ignore[arg-type]
                elif what == "finals":
                    self.choose_finals(data, closed=False)  # type: ignore[arg-type]
            for f in futures:
                f.result()
        self.timings.rushing.clear()
        self.wait_private_boards()
        projects_done.wait(timeout=1800)
        if project_errors:
            self.checks.fail("final projects: " + project_errors[0][-800:])
            self.groups, self.reviewers = [], []
        self.the_end()
        self.figures(time.monotonic() - began)

    def window_s(self, plan: LabPlan) -> float:
        return (plan.closes_at - plan.opens_at).total_seconds()

    def user_id(self, who: Person) -> int:
        from accounts.models import User

        return User.objects.get(username=who.username).pk

    def later(self, when: float, plan: LabPlan, who: Person, pools: dict) -> None:
        """A student with an extension uploads after the deadline, inside their own."""
        time.sleep(max(0.0, when - time.time()))
        self.upload(plan, who, "code", pools)

    def tick(self) -> None:
        self.memory.sample(self.stack, self.others)
        self.checks.all()

    def rush_reads(self, plan: LabPlan) -> None:
        """During a rush, people also read: lab pages, leaderboards, their entries."""

        def read(p: Person) -> None:
            p.get(f"/labs/{plan.lab_id}/")
            p.get(f"/labs/{plan.lab_id}/leaderboard/")
            p.api("GET", f"/api/labs/{plan.spec_id}/leaderboard/", kind="leaderboard_api")
            p.get("/")

        readers = self.rng.sample(self.students, min(40, len(self.students)))

        def reading() -> None:
            end = plan.closes_at.timestamp()
            while time.time() < end:
                read(self.rng.choice(readers))
                time.sleep(0.2)

        threading.Thread(target=reading, daemon=True).start()

    def choose_finals(self, plan: LabPlan, closed: bool) -> None:
        """In the lab that counts the entry marked final, a few students with two entries
        choose their earlier one on its page shortly before the deadline; after it, the same
        choice is refused and what counts stays (the checks freeze it)."""
        from submissions.models import Entry, Participant

        if plan.spec_id not in FINAL_LABS:
            return
        by_name = {p.username: p for p in self.students}
        chosen = 0
        for participant in Participant.objects.filter(lab_id=plan.lab_id).select_related("user"):
            entries = [
                e
                for e in Entry.objects.filter(participant=participant).order_by("pk")
                if e.status == "scored"
            ]
            who = by_name.get(participant.user.username)
            if who is None or who.username in self.extended_names or len(entries) < 2:
                continue
            first = entries[0]
            page = f"/entries/{first.pk}/"
            answer = who.post_form(f"/entries/{first.pk}/final/", {}, form_page=page)
            said = messages_of(who.page(answer.headers.get("Location", page)))
            participant.refresh_from_db()
            if closed and participant.final_entry_id == first.pk and first.pk not in self.finals:
                self.checks.fail(f"entry {first.pk} was made final after its window closed")
            if not closed:
                if participant.final_entry_id != first.pk:
                    self.checks.fail(f"{who.username} could not choose entry {first.pk}: {said}")
                self.finals.add(first.pk)
            chosen += 1
            if chosen == 3:
                break
        what = "refused after the close" if closed else "chosen"
        print(f"  {plan.spec_id}: {chosen} final entries {what}", flush=True)

    # -- faults ---------------------------------------------------------------------------
    def fault(self, which: str) -> None:
        print(f"  FAULT: {which} at {time.strftime('%H:%M:%S')}", flush=True)
        self.timings.fault_begins()
        try:
            if which == "worker":
                worker = self.stack.workers[0]
                worker.kill()
                self.stack.workers.remove(worker)
                worker.log.close()
                self.stack.start_worker()
            elif which == "redis":
                assert self.stack.redis is not None
                self.stack.redis.restart()
            elif which == "postgres":
                cluster = sorted(os.listdir("/etc/postgresql"))[-1]
                subprocess.run(
                    ["pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart"],
                    check=True,
                    capture_output=True,
                )
            elif which == "site":
                # gunicorn's graceful restart of every site process (what a deploy does).
                assert self.stack.site is not None
                self.stack.site.process.send_signal(signal.SIGHUP)
                time.sleep(3)
                self.others.restart(
                    "site-worker", ["worker", "-Q", "site", "-P", "solo", "-n", "site@%h"]
                )
            time.sleep(5)
        finally:
            self.timings.in_fault.clear()
            self.faults_done.append(which)

    # -- after the windows ---------------------------------------------------------------
    def wait_private_boards(self) -> None:
        from django.db import connections
        from django.utils import timezone

        from courses.models import Lab
        from submissions.models import ACTIVE, GradingRun
        from submissions.selectors import lab_private_progress

        budget = time.time() + self.args.rush_drain_s * 3
        pending = {plan.spec_id: plan for plan in self.labs}
        next_check = time.time()
        while pending and time.time() < budget:
            for spec_id, plan in list(pending.items()):
                lab = Lab.objects.get(pk=plan.lab_id)
                progress = lab_private_progress(lab)
                busy = GradingRun.objects.filter(entry__lab=lab, status__in=ACTIVE).exists()
                last_close = max(
                    [plan.closes_at, *self.extended.get(spec_id, {}).values()]
                ).timestamp()
                if not busy and progress.done == progress.due and time.time() > last_close:
                    plan.closed_private_s = time.time() - plan.closes_at.timestamp()
                    self.checks.board_published(spec_id)
                    del pending[spec_id]
                    print(
                        f"  {spec_id}: private board complete {plan.closed_private_s:.0f} s "
                        f"after its deadline ({progress.done} counted entries) at "
                        f"{timezone.now():%H:%M:%S}",
                        flush=True,
                    )
            if time.time() >= next_check:  # every 10 s, as during the rushes
                self.tick()
                next_check = time.time() + 10
            connections.close_all()
            time.sleep(3)
        for spec_id in pending:
            self.checks.fail(f"{spec_id}: the private board was not complete in time")

    def final_projects(self) -> tuple[list[dict], list[str]]:
        """Beside the labs: groups form, sign up to pitch and upload slides; others write a
        paper review instead."""
        from . import course_projects as projects

        rng = random.Random(self.args.seed + 1)
        pool = self.students[:]
        rng.shuffle(pool)
        groups = projects.form_groups(
            pool, rng, self.size.groups, mail=self.mail, keep_free=self.size.reviews + 1
        )
        reviewers = projects.write_reviews(pool, rng, count=self.size.reviews)
        print(f"  final projects: {len(groups)} groups, {len(reviewers)} reviews", flush=True)
        return groups, reviewers

    def the_end(self) -> None:
        """After the last window: the pitches (judges on phones, two of them conflicted),
        attendance, scoring closed, the lab finalists judged; then the reveal, the
        confirmation and the announcement, and the pass report."""
        from . import course_people as people
        from . import course_projects as projects

        staff = self.staff[0]
        lab_ids = [plan.lab_id for plan in self.labs]
        names = [j.username for j in self.judges]
        for judge in self.judges:
            judge.session.headers["User-Agent"] = PHONE
        if self.groups:
            ids = [g["id"] for g in self.groups]
            conflicts = {names[0]: ids[:2]}  # staff know of these
            declared = {names[1]: ids[2:3]}  # this judge says so on the score sheet
            projects.staff_prepare_pitches(staff, self.groups, conflicts=conflicts, zone=ZONE)
            # After the deadlines: late slides, a late review, a late new group are refused.
            grouped = {u for g in self.groups for u in g["members"]}
            by_name = {p.username: p for p in self.students}
            free = [p for p in self.students if p.username not in grouped | set(self.reviewers)]
            member = by_name[self.groups[0]["members"][0]]
            projects.late_changes_refused(member, self.groups[0]["id"], free[0] if free else None)
            ballots = projects.judge_pitches(
                self.judges, self.groups, conflicts=conflicts, declare=declared
            )
            marks = projects.mark_reviews(staff, self.reviewers)
            projects.mark_attendance(staff, self.groups)
            projects.close_scoring(staff, self.groups, zone=ZONE, late_judge=self.judges[-1])
        assigned = {lab_id: names[:3] for lab_id in lab_ids}
        projects.staff_assign_lab_judges(staff, lab_ids, names[:3], finalists=3)
        lab_scores = projects.judge_lab_finalists(self.judges, lab_ids, assigned=assigned)
        projects.staff_close_lab_judging(staff, lab_ids, late_judge=self.judges[0])
        projects.check_lab_judging(lab_ids, assigned, lab_scores)
        if self.groups:
            barred = {names[0]: conflicts[names[0]], names[1]: declared[names[1]]}
            projects.check_projects(
                staff, self.groups, ballots, self.reviewers, barred, lab_scores,
                review_marks=marks,
            )  # fmt: skip
            emails = {p.username: p.email for p in self.students}
            projects.check_project_mail(self.mail, self.groups, emails)
        # Lecture attendance for the pass report, ticked by staff for a sample of students.
        people.mark_attendance(staff, [p.username for p in self.students[:10]])
        self.tick()
        for plan in self.labs:
            staff.post_form(
                f"/labs/{plan.lab_id}/leaderboard/reveal/",
                {},
                form_page=f"/labs/{plan.lab_id}/leaderboard/",
            )
        self.tick()
        self.resolve_ties(staff)
        answer = staff.post_form("/staff/awards/confirm/", {}, form_page="/staff/awards/")
        expect(answer, 302, "confirm the awards")
        from awards.models import AwardSnapshot

        snapshot = AwardSnapshot.objects.filter(edition__slug=self.edition_slug).last()
        if snapshot is None:
            self.checks.fail("the awards could not be confirmed: " + self.blockers(staff))
            return
        self.announced = True
        path = f"/staff/awards/{snapshot.pk}/announce/"
        expect(staff.post_form(path, {"confirm": "yes"}), 302, "announce")
        # Announcing twice must not email twice.
        staff.post_form(path, {"confirm": "yes"})
        wait_until(lambda: self.winner_mails() > 0, 120, "the winners' emails", poll_s=1)
        time.sleep(10)
        self.checks.emails_once()
        report = staff.get("/staff/pass-report/?format=csv")
        expect(report, 200, "pass report")
        rows = report.text.strip().splitlines()[1:]
        from courses.models import Enrollment

        enrolled = Enrollment.objects.filter(edition__slug=self.edition_slug).count()
        if len(rows) != enrolled:
            self.checks.fail(f"the pass report has {len(rows)} rows for {enrolled} enrolled")
        self.tick()

    def resolve_ties(self, staff: Person) -> None:
        """Ties for a prize are decided by staff on the awards page, in the order shown."""
        for _ in range(50):
            page = staff.page("/staff/awards/")
            if "/staff/awards/ties/" not in page:
                return
            form = form_with_action(page, "/staff/awards/ties/", "a tie to resolve")
            answer = staff.post_form("/staff/awards/ties/", form.data(), form_page="/staff/awards/")
            expect(answer, 302, "resolve a tie")
        self.checks.fail("ties still unresolved after 50 decisions")

    def winner_mails(self) -> int:
        return sum(1 for m in self.mail.messages if "you won" in (m["Subject"] or "").lower())

    def blockers(self, staff: Person) -> str:
        text = staff.page("/staff/awards/")
        return " ".join(text.split())[:400]

    # -- figures ---------------------------------------------------------------------------
    def figures(self, wall_s: float) -> None:
        from django.db import connection

        from submissions.models import FINAL, Entry, GradingRun, Status

        report = self.report
        runs = GradingRun.objects.filter(entry_id__in=self.entry_ids)
        with_run = runs.values("entry_id").distinct().count()
        not_final = runs.exclude(status__in=FINAL).count()
        twice = recorded_twice(runs)
        errors = runs.filter(status=Status.ERROR).count()
        report.add("course.students", len(self.students))
        report.add("course.labs", len(self.labs))
        report.add("course.uploads_accepted", len(self.entry_ids))
        report.add("course.uploads_refused", sum(self.refused.values()))
        report.add("course.faults", len(self.faults_done), "", f"== {len(self.size.faults)}")
        report.add("course.server_errors", len(self.timings.server_errors), "", "== 0")
        report.add("course.lost", len(self.entry_ids) - with_run + not_final, "", "== 0")
        report.add("course.double_recorded", twice, "", "== 0")
        report.add("course.platform_errors", errors)
        report.add("course.check_failures", len(self.checks.failures), "", "== 0")
        report.add("course.check_rounds", self.checks.rounds)
        for why, n in self.refusals.most_common(5):
            report.note(f"{n} uploads refused: {why}")
        for text in self.timings.server_errors[:5]:
            report.note(f"server error: {text}")
        for text in self.checks.failures[:10]:
            report.note(f"check failed: {text}")
        for spec_id, n in sorted(self.timings.excused.items()):
            report.note(f"{n} answers 502/503 during faults ({spec_id})")
        for plan in self.labs:
            done = runs.filter(
                entry__lab_id=plan.lab_id, status=Status.SCORED, started_at__isnull=False
            ).values_list("started_at", "finished_at")
            busy = [(f - s).total_seconds() for s, f in done if f]
            key = f"course.{plan.spec_id}"
            if busy:
                per_hour = 3600 / (sum(busy) / len(busy))
                report.add(f"{key}.scored_per_hour_per_worker", per_hour, "entries/h")
                # A 500-student deadline hour: each uploads 1.5 entries, then one private run.
                report.add(f"{key}.workers_for_500_student_hour", 500 * 2.5 / per_hour)
            if plan.closed_private_s is not None:
                report.add(f"{key}.deadline_to_private_board_s", plan.closed_private_s, "s")
            else:
                report.missing(f"{key}.deadline_to_private_board_s", "not available: not done")
        targets = {"page": "< 0.3", "leaderboard_api": "< 0.1", "api": "", "upload": ""}
        for kind, target in targets.items():
            values = self.timings.seconds.get(kind) or []
            if not values:
                report.missing(f"course.{kind}_p95_s", "not available: none during rushes")
                continue
            report.add(f"course.{kind}_p50_s", percentile(values, 50), "s")
            report.add(f"course.{kind}_p95_s", percentile(values, 95), "s", target)
            report.add(f"course.{kind}_requests", len(values))
        for name, peak in sorted(self.memory.peak.items()):
            report.add(f"course.peak_pss.{name}_mib", peak / 2**20, "MiB")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_database_size(current_database())")
            report.add("course.database_mib", cursor.fetchone()[0] / 2**20, "MiB")
        report.add("course.entries_total", Entry.objects.count())
        report.add("course.emails", len(self.mail.messages))
        target = "< 2700" if not self.args.quick else ""
        report.add("course.wall_s", wall_s, "s", target)


def run(stack: Stack, report: Report, args) -> None:
    size = Size.smoke() if args.quick else Size()
    if args.course_participation is not None:
        size.participation = args.course_participation
    print(
        f"\n== Course rehearsal: {size.roster} roster + {size.public} public students, "
        f"{size.judges} judges, faults {', '.join(size.faults)}",
        flush=True,
    )
    rehearsal = Rehearsal(stack, report, args, size)
    try:
        rehearsal.start()
        rehearsal.run()
    finally:
        rehearsal.close()
    failed = rehearsal.checks.failures or rehearsal.timings.server_errors
    if failed:
        raise AssertionError(f"the rehearsal failed its checks: {failed[:3]}")
