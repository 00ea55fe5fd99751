"""The people of a full-course rehearsal, made and moved only over HTTP, as real people are.

- Students: staff import the roster CSV on *People* (`/staff/people/`); everyone without an
  account gets an invitation email whose link sets their password
  (`/accounts/password/reset/key/...`, allauth's), then they log in.
- The public: sign up at `/accounts/signup/`, confirm by the emailed link (a POST: a link
  scanner must not verify anyone), then join the current edition from the home page
  (`/editions/<slug>/join/`).
- API tokens: made on *API tokens* (`/accounts/tokens/`, the key shown once); `/api/me/`
  answers to it.
- Staff: the first superuser comes from `manage.py createsuperuser --noinput` (an operator's
  command) and confirms its email by the link the site sends at its first login (email
  verification is mandatory); it adds each staff member in the Django admin
  (`/admin/accounts/user/add/`, then their email, name and the Staff role on the change
  form); staff confirm their email the same way.
- Judges: staff invite them on *People* (one `email, name` a line); they claim the emailed
  link like roster students.
- Conflicts: a judge declares one with a project group (`/projects/groups/<id>/conflict/`),
  staff add one for a judge (`/projects/<edition>/staff/conflicts/`). Lab judging has no
  conflict mechanism on the site (lab finalists are scored by every assigned judge).
- Extensions: staff on *Timeline* (`/staff/timeline/`, the edition's zone).
- Attendance: staff tick *attended* on the student's enrollment in the admin
  (`/admin/courses/enrollment/<id>/change/`), as the pass report says.

Nothing here writes to the database; `bench.course` runs it (its `--quick` smoke version
is the quickest way to try a change here).
"""

from __future__ import annotations

import csv
import io
import random
import re
import subprocess
import sys
import time
import zoneinfo
from datetime import datetime, timedelta
from html import unescape
from urllib.parse import urlencode, urlsplit

from .course_forms import forms_of, messages_of
from .course_web import MailSink, Person, Timings, expect
from .stack import REPO, BenchEnv

PASSWORD = "rehearse-6s191-Lstm"  # noqa: S105 - every rehearsal person's; not a real secret
ROSTER_CHUNK = 1000  # rows a file on People (courses.roster_views.MAX_ROSTER_ROWS)

# Roster spellings the People page accepts (courses.roster.AFFILIATION_NAMES), by share.
ROSTER_SHARES = (
    ("registered MIT student", "mit_student", "s", 0.6),
    ("MIT affiliate", "mit_affiliate", "a", 0.2),
    ("MIT listener", "mit_listener", "l", 0.2),
)
FIRST = (
    "Ada Alan Grace Claude John Barbara Edsger Frances Donald Margaret Ken Radia Tim Shafi "
    "Leslie Yann Fei-Fei Geoffrey Yoshua Daphne Andrew Judea Cynthia Manuel Silvio Regina "
    "Ruth Jia Amara Kofi Priya Wei Mateo Sofia Omar Lina Hiroshi Ngozi Ivan Elena"
).split()
LAST = (
    "Lovelace Turing Hopper Shannon McCarthy Liskov Dijkstra Allen Knuth Hamilton Thompson "
    "Perlman Berners-Lee Goldwasser Lamport LeCun Li Hinton Bengio Koller Ng Pearl Dwork Blum "
    "Micali Barzilay Okafor Chen Garcia Rossi Haddad Tanaka Adeyemi Petrov Novak Singh Kim"
).split()

SET_PASSWORD_LINK = re.compile(r"https?://\S+?/accounts/password/reset/key/\S+?/(?=\s|$)")
CONFIRM_LINK = re.compile(r"https?://\S+?/accounts/confirm-email/\S+?/(?=\s|$)")
USERNAME_IN_MAIL = re.compile(r"Your username is (\S+?)\.?\s*$", re.M)
NEW_TOKEN = re.compile(r'<pre id="new-token">([^<]+)</pre>')


# -- reading pages ---------------------------------------------------------------------------
def _path(link: str) -> str:
    """A link from an email, on this rehearsal's site (the path and query of it)."""
    parts = urlsplit(link)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _location(response) -> str:
    return _path(response.headers.get("Location", ""))


def wait_for_mail(
    mail: MailSink, address: str, pattern: re.Pattern, after: int = 0, timeout_s: float = 30
) -> tuple[str, str]:
    """The first message to `address` (after the first `after` of them) with a link matching
    `pattern`: (the link, the body). Mail is sent when the site's transaction commits."""
    deadline = time.monotonic() + timeout_s
    while True:
        for message in mail.to(address)[after:]:
            body = mail.body(message)
            found = pattern.search(body)
            if found:
                return found.group(0), body
        if time.monotonic() > deadline:
            raise AssertionError(f"no email to {address} with a link like {pattern.pattern}")
        time.sleep(0.1)


def logged_in(person: Person) -> bool:
    return person.get("/accounts/profile/").status_code == 200


# -- students ---------------------------------------------------------------------------------
def roster_rows(n: int, rng: random.Random) -> list[dict]:
    """`n` roster rows, about 60 % registered MIT students, 20 % MIT affiliates, 20 % MIT
    listeners (the public are never on a roster: they sign up). Keys: email, username, name,
    affiliation (as the CSV spells it), stored (the site's stored value)."""
    counts = [round(n * share) for *_, share in ROSTER_SHARES]
    counts[0] += n - sum(counts)
    kinds = [kind for kind, count in zip(ROSTER_SHARES, counts, strict=True) for _ in range(count)]
    rng.shuffle(kinds)
    rows = []
    for number, (spelled, stored, letter, _) in enumerate(kinds, start=1):
        username = f"{letter}{number:05d}"
        # Listeners often write from outside MIT.
        domain = "mit.edu" if stored != "mit_listener" or rng.random() < 0.5 else "example.org"
        rows.append(
            {
                "email": f"{username}@{domain}",
                "username": username,
                "name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                "affiliation": spelled,
                "stored": stored,
            }
        )
    return rows


def roster_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["email", "username", "name", "affiliation"], extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


def import_roster(staff: Person, rows: list[dict]) -> None:
    """Staff upload the roster on *People* into the edition the page offers (the current one),
    a file of at most the page's limit at a time; the page must say every row went in."""
    for start in range(0, len(rows), ROSTER_CHUNK):
        chunk = rows[start : start + ROSTER_CHUNK]
        page = staff.page("/staff/people/")
        chosen = re.search(r'<option value="(\d+)" selected>', page)
        if chosen is None:
            raise AssertionError("People: no edition to import the roster into")
        response = staff.post_form(
            "/staff/people/",
            {"action": "roster", "edition": chosen.group(1)},
            files={"roster": ("roster.csv", roster_csv(chunk), "text/csv")},
        )
        if response.status_code == 200:
            problems = re.findall(r'<li class="error">(.*?)</li>', response.text)
            raise AssertionError(f"roster refused: {[unescape(p) for p in problems][:5]}")
        expect(response, 302, "roster import")
        said = " ".join(text for _, text in messages_of(staff.page("/staff/people/")))
        found = re.search(
            r"(\d+) new accounts? invited, (\d+) accounts? updated, (\d+) newly enrolled", said
        )
        if found is None:
            raise AssertionError(f"People did not say the roster was imported: {said[:300]}")
        invited, updated, _ = (int(g) for g in found.groups())
        if invited + updated != len(chunk):
            raise AssertionError(f"roster of {len(chunk)} rows: the page says {found.group(0)}")


def claim_invitation(person: Person, mail: MailSink, email: str, password: str = PASSWORD) -> None:
    """Someone staff added (a roster student, a judge) follows the emailed link, sets a
    password and logs in; `person.username` becomes the one the email names."""
    link, body = wait_for_mail(mail, email, SET_PASSWORD_LINK)
    named = USERNAME_IN_MAIL.search(body)
    if named:
        person.username = named.group(1)
    # The key link stores the key in the session and moves on to the set-password form.
    response = person.get(_path(link))
    expect(response, 302, f"invitation link of {email}")
    form_page = _location(response)
    if "set-password" not in form_page:
        raise AssertionError(f"invitation link of {email} led to {form_page}, not the form")
    response = person.post_form(form_page, {"password1": password, "password2": password})
    expect(response, 302, f"setting the password of {email}")
    if "/password/reset/key/done/" not in _location(response):
        raise AssertionError(f"setting the password of {email} ended at {_location(response)}")
    person.login(password)
    if not logged_in(person):
        raise AssertionError(f"{person.username} is not logged in after claiming the invitation")


def sign_up(
    person: Person, mail: MailSink, email: str, password: str = PASSWORD, name: str = ""
) -> None:
    """A member of the public signs up (self-declared: the public), confirms the emailed
    link (the confirmation page asks for a click: a POST), and joins the current edition
    from the home page."""
    first, _, last = (name or f"{person.username.title()} Public").partition(" ")
    response = person.post_form(
        "/accounts/signup/",
        {
            "email": email,
            "username": person.username,
            "password1": password,
            "password2": password,
            "first_name": first,
            "last_name": last,
            "affiliation": "public",
        },
    )
    if response.status_code == 200:
        errors = re.findall(r'<ul class="errorlist[^"]*">(.*?)</ul>', response.text, re.S)
        raise AssertionError(f"sign-up of {email} refused: {errors}")
    expect(response, 302, f"sign-up of {email}")
    link, _ = wait_for_mail(mail, email, CONFIRM_LINK)
    confirm = _path(link)
    response = person.post_form(confirm, {})
    expect(response, 302, f"confirming {email}")
    if not logged_in(person):  # confirmed from another browser: log in now
        person.login(password)
    edition_join(person)


def edition_join(person: Person) -> None:
    """A logged-in student not on the roster joins the current edition from the home page."""
    home = person.page("/")
    joins = [f for f in forms_of(home) if re.search(r"/editions/[\w-]+/join/$", f.action)]
    if not joins:
        raise AssertionError(f"{person.username}: the home page offers no way to join the edition")
    response = person.post_form(joins[0].action, {}, form_page="/")
    expect(response, 302, f"{person.username} joining the edition")
    home = person.page("/")
    if any("/join/" in f.action for f in forms_of(home)):
        raise AssertionError(f"{person.username} joined, but the home page still offers to")


def api_token(person: Person, name: str = "colab") -> str:
    """A token made on *API tokens* (its key is shown once); the notebook API accepts it."""
    response = person.post_form("/accounts/tokens/", {"name": name})
    expect(response, 200, f"token of {person.username}")
    found = NEW_TOKEN.search(response.text)
    if found is None:
        raise AssertionError(f"{person.username}: the tokens page showed no new key")
    person.token = unescape(found.group(1)).strip()
    expect(person.api("GET", "/api/me/"), 200, f"/api/me/ with {person.username}'s token")
    return person.token


# -- logging in, staff and judges ---------------------------------------------------------------
def login_confirming(person: Person, mail: MailSink, email: str, password: str = PASSWORD) -> None:
    """Log in; an account whose email was never confirmed (the superuser, staff added in the
    admin) is sent a confirmation link first (mandatory verification), which it follows."""
    before = len(mail.to(email))
    person.login(password)
    if logged_in(person):
        return
    link, _ = wait_for_mail(mail, email, CONFIRM_LINK, after=before)
    expect(person.post_form(_path(link), {}), 302, f"confirming {email}")
    if not logged_in(person):
        person.login(password)
    if not logged_in(person):
        raise AssertionError(f"{person.username} cannot log in after confirming {email}")


def admin_form_submit(
    person: Person, path: str, changes: dict[str, str | list[str] | None], button: str = "_save"
) -> str:
    """Send an admin form as it stands with `changes` (a value, a list for a multiple
    choice, None to untick a box); returns where the admin went next."""
    page = person.page(path)
    forms = [f for f in forms_of(page) if any(n == "csrfmiddlewaretoken" for n, _ in f.fields)]
    form = next((f for f in forms if f.attrs.get("id", "").endswith("_form")), forms[-1])
    fields = [(n, v) for n, v in form.fields if n not in changes]
    for name, value in changes.items():
        if isinstance(value, list):
            fields.extend((name, v) for v in value)
        elif value is not None:
            fields.append((name, value))
    fields.append((button, "Save"))
    headers = {"Referer": person.base_url + path}
    response = person.request("POST", path, data=fields, headers=headers)
    if response.status_code == 200:
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S)
        raise AssertionError(f"admin form {path} refused: {[unescape(e) for e in errors][:5]}")
    expect(response, 302, f"admin form {path}")
    return _location(response)


def admin_user_id(person: Person, username: str) -> int:
    """A user's id as staff find it: searching the admin's user list."""
    page = person.page("/admin/accounts/user/?" + urlencode({"q": username}))
    for user_id, shown in re.findall(
        r'href="/admin/accounts/user/(\d+)/change/[^"]*">([^<]+)</a>', page
    ):
        if unescape(shown).strip().lower() == username.lower():
            return int(user_id)
    raise AssertionError(f"the admin's user list has no {username}")


def create_superuser(env: BenchEnv, username: str, email: str, password: str = PASSWORD) -> None:
    """The operator's one command: the first superuser (everything else is done over HTTP)."""
    subprocess.run(
        [sys.executable, "manage.py", "createsuperuser", "--noinput"]
        + ["--username", username, "--email", email],
        cwd=REPO,
        env=env.process_env(DJANGO_SUPERUSER_PASSWORD=password),
        check=True,
        capture_output=True,
        timeout=120,
    )


def staff_add(
    head: Person, mail: MailSink, username: str, email: str, name: str, password: str = PASSWORD
) -> Person:
    """The superuser adds a staff member in the admin (a password, then email, name and the
    Staff role); the new staff member logs in and confirms their email."""
    next_page = admin_form_submit(
        head,
        "/admin/accounts/user/add/",
        {
            "username": username,
            "usable_password": "true",
            "password1": password,
            "password2": password,
            "role": "staff",
            "affiliation": "mit_affiliate",
            "affiliation_source": "staff",
        },
    )
    found = re.match(r"/admin/accounts/user/(\d+)/change/", next_page)
    if found is None:
        raise AssertionError(f"adding {username} in the admin led to {next_page}")
    first, _, last = name.partition(" ")
    admin_form_submit(
        head,
        f"/admin/accounts/user/{found.group(1)}/change/",
        {"email": email, "first_name": first, "last_name": last},
    )
    person = Person(head.base_url, head.timings, username)
    login_confirming(person, mail, email, password)
    return person


def judges_invite(staff: Person, people: list[tuple[str, str]]) -> None:
    """Staff invite judges on *People*: one `email, name` a line."""
    lines = "\n".join(f"{email}, {name}" for email, name in people)
    response = staff.post_form("/staff/people/", {"action": "judges", "judges": lines})
    expect(response, 302, "inviting judges")
    said = " ".join(text for _, text in messages_of(staff.page("/staff/people/")))
    if f"Invited {len(people)} judge" not in said:
        raise AssertionError(f"People did not say the judges were invited: {said[:300]}")


def superuser(
    env: BenchEnv,
    base_url: str,
    timings: Timings,
    mail: MailSink,
    username: str = "head",
    email: str = "head@mit.edu",
    password: str = PASSWORD,
) -> Person:
    """The first superuser (the operator's command), logged in: its email is confirmed by
    the link the site sends at its first login."""
    create_superuser(env, username, email, password)
    head = Person(base_url, timings, username)
    login_confirming(head, mail, email, password)
    return head


def make_staff_and_judges(
    mail: MailSink,
    head: Person,
    n_staff: int = 3,
    n_judges: int = 8,
    password: str = PASSWORD,
    head_email: str = "",
) -> tuple[list[Person], list[Person]]:
    """`n_staff` staff the superuser `head` adds in the admin, and `n_judges` judges the
    first of them invites on *People*, each logged in with `password`: (staff, judges).

    `mail` may be anything with a `.mail` (the rehearsal itself). A `head` not logged in yet
    (its email never confirmed) logs in confirming `head_email` (default
    `<username>@mit.edu`)."""
    mail = getattr(mail, "mail", mail)
    if not logged_in(head):
        login_confirming(head, mail, head_email or f"{head.username}@mit.edu", password)
    staff = [
        staff_add(head, mail, f"ta{i}", f"ta{i}@mit.edu", f"Teaching Assistant{i}", password)
        for i in range(1, n_staff + 1)
    ]
    invited = [(f"judge{i}@judges.example.org", f"Judge Number{i}") for i in range(1, n_judges + 1)]
    judges_invite(staff[0] if staff else head, invited)
    judges = []
    for email, _ in invited:
        judge = Person(head.base_url, head.timings, email)
        claim_invitation(judge, mail, email, password)
        judges.append(judge)
    return staff, judges


# -- conflicts ----------------------------------------------------------------------------------
def declare_conflicts(
    judge: Person, edition_slug: str, group_ids: list[int], reason: str = "My student"
) -> None:
    """A judge declares a conflict with each project group from its score sheet (open from
    the pitch session on), the site's only conflict mechanism: lab judging has none.
    (bench.course_projects.judge_pitches does the same, and undoes one, in the full flow.)"""
    for group_id in group_ids:
        response = judge.post_form(
            f"/projects/groups/{group_id}/conflict/",
            {"reason": reason},
            form_page=f"/projects/groups/{group_id}/score/",
        )
        expect(response, 302, f"{judge.username} declaring a conflict with group {group_id}")
        said = messages_of(judge.page(_location(response) or f"/projects/{edition_slug}/judging/"))
        if not any(level == "success" and "Conflict with" in text for level, text in said):
            raise AssertionError(f"conflict of {judge.username} with {group_id}: {said}")


def add_conflicts(
    staff: Person,
    edition_slug: str,
    judge_username: str,
    group_ids: list[int],
    reason: str = "Advisor of a member",
) -> None:
    """Staff record a judge's conflict with groups on the final-projects dashboard."""
    dashboard = f"/projects/{edition_slug}/staff/"
    for group_id in group_ids:
        response = staff.post_form(
            f"/projects/{edition_slug}/staff/conflicts/",
            {"judge": judge_username, "group": str(group_id), "reason": reason},
            form_page=dashboard,
        )
        expect(response, 302, f"staff adding a conflict of {judge_username} with {group_id}")
        said = messages_of(staff.page(dashboard))
        if not any(level == "success" and "conflicted with" in text for level, text in said):
            raise AssertionError(f"conflict of {judge_username} with {group_id}: {said}")


# -- extensions and attendance ------------------------------------------------------------------
def grant_extension(
    staff: Person, lab_id: int, username: str, closes_at: datetime, reason: str
) -> datetime:
    """Staff grant a student a later deadline for a lab on *Timeline*, typed in the edition's
    zone (the page names it beside the field) to the minute, as the form takes it: the
    minute at or after `closes_at`. Returns the deadline granted."""
    page = staff.page("/staff/timeline/")
    zone = re.search(r"New deadline \(([A-Za-z_+\-/0-9]+) \(", unescape(page))
    if zone is None:
        raise AssertionError("Timeline: no extension form naming its time zone")
    local = closes_at.astimezone(zoneinfo.ZoneInfo(zone.group(1)))
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    response = staff.post_form(
        "/staff/timeline/",
        {
            "what": f"lab:{lab_id}",
            "student": username,
            "closes_at": local.strftime("%Y-%m-%dT%H:%M"),
            "reason": reason,
        },
    )
    if response.status_code == 200:
        said = messages_of(response.text)
        errors = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', response.text, re.S)
        raise AssertionError(f"extension for {username} refused: {said} {errors}")
    expect(response, 302, f"extension for {username}")
    page = staff.page("/staff/timeline/")
    if not any(
        level == "success" and text.startswith("Extension granted")
        for level, text in messages_of(page)
    ):
        raise AssertionError(f"Timeline did not say the extension of {username} was granted")
    if f"({username})" not in page:
        raise AssertionError(f"Timeline does not list the extension of {username}")
    return local


def mark_attendance(staff: Person, usernames: list[str]) -> None:
    """Staff tick *attended* on each student's enrollment in the admin (the pass report's
    attendance): find the student, their enrollment in the current edition, save it ticked."""
    for username in usernames:
        user_id = admin_user_id(staff, username)
        listing = staff.page(f"/admin/courses/enrollment/?user__id__exact={user_id}")
        ids = re.findall(r'href="/admin/courses/enrollment/(\d+)/change/', listing)
        if not ids:
            raise AssertionError(f"{username} has no enrollment in the admin")
        # The newest edition's enrollment is listed first (by id, the admin's default).
        change = f"/admin/courses/enrollment/{max(int(i) for i in ids)}/change/"
        admin_form_submit(staff, change, {"attended": "on"})
