"""The final projects and the judging of a full-course rehearsal, driven over HTTP only.

Students form pitch groups (create, invite by username, the invitee accepts on the projects
page the invitation email links to), sign up to pitch and upload slides; others hand in a
1-page paper review. Staff move the final-project dates in the admin (the dashboard's
"Deadlines and settings"), generate the schedule, add conflicts, mark attendance and close
scoring. Judges score every pitch on their phones from the score sheet (the same form: the
sheet's script saves each click through the ballot API, or the plain form without script),
are refused the groups they are conflicted with, and score the lab finalists.

Nothing here writes to the database: the checks at the end read it. The order a course
takes (`bench.course` runs it; `python -m bench --quick --only course` is the smoke version):

    staff_open_projects(staff, signup, slides, review)    # unless the settings exist
    groups = form_groups(students, rng, 60, mail=mail)    # create, invite, accept, sign up, slides
    reviewers = write_reviews(students, rng, 20)
    staff_prepare_pitches(staff, groups, conflicts)       # deadlines close, schedule, session
    late_changes_refused(member, group_id, free_student)
    ballots = judge_pitches(phone_judges, groups, conflicts, declare)
    marks = mark_reviews(staff, reviewers); mark_attendance(staff, groups)
    close_scoring(staff, groups, late_judge=...)
    staff_assign_lab_judges(staff, lab_ids, usernames)    # once each lab's last window closed
    lab_scores = judge_lab_finalists(judges, lab_ids, assigned)
    staff_close_lab_judging(staff, lab_ids, late_judge=...)
    check_projects(staff, groups, ballots, reviewers, barred, review_marks=marks)
    check_lab_judging(lab_ids, assigned, lab_scores); check_project_mail(mail, groups, emails)
"""

from __future__ import annotations

import csv
import io
import random
import re
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from fractions import Fraction
from html import escape, unescape
from zoneinfo import ZoneInfo

from .course_forms import Form, follow, form_with_action, forms_of, messages_of, submit
from .course_web import MailSink, Person, expect

CRITERIA = ("novelty", "soundness", "clarity")
MAX_GROUP = 5
INVITATION_ACCEPT = re.compile(r'action="/projects/invitations/(\d+)/accept/"')
GROUP_INVITE = re.compile(r'action="/projects/groups/(\d+)/invite/"')
SCORE_LINK = re.compile(r'href="/projects/groups/(\d+)/score/"')
ENTRY_LINK = re.compile(r'href="/judging/entries/(\d+)/"')


# --- pages, forms and messages --------------------------------------------------------------


def succeeded(messages: list[tuple[str, str]], what: str) -> str:
    errors = [text for level, text in messages if "error" in level]
    if errors or not any("success" in level for level, _ in messages):
        raise AssertionError(f"{what}: refused or silent: {messages}")
    return next(text for level, text in messages if "success" in level)


def refused(messages: list[tuple[str, str]], what: str, says: str = "") -> str:
    errors = [text for level, text in messages if "error" in level]
    if not errors or (says and not any(says in e for e in errors)):
        raise AssertionError(f"{what}: expected a refusal ({says!r}), got {messages}")
    return errors[0]


def projects_home(person: Person) -> str:
    """Where /projects/ sends a person: the current edition's final-project page."""
    response = person.get("/projects/")
    expect(response, 302, f"/projects/ as {person.username}")
    location = response.headers["Location"]
    return location.removeprefix(person.base_url)


def edition_slug(person: Person) -> str:
    return projects_home(person).strip("/").split("/")[-1]


# --- PDFs -------------------------------------------------------------------------------


def pdf(lines: list[str], pages: int = 1) -> bytes:
    """A small, valid PDF (a correct cross-reference table) with `lines` of text per page."""
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font = 3 + 2 * pages
    for i in range(pages):
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode()
        )
        text = "".join(
            f"BT /F1 14 Tf 72 {720 - 20 * n} Td ({_pdf_text(line)}) Tj ET\n"
            for n, line in enumerate(lines + [f"page {i + 1}"])
        ).encode()
        objects.append(b"<< /Length %d >>\nstream\n" % len(text) + text + b"endstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _pdf_text(line: str) -> str:
    return (
        line.encode("latin-1", "replace")
        .decode("latin-1")
        .replace("\\", "\\\\")
        .replace("(", "\\(")
        .replace(")", "\\)")
    )


# --- students: groups, pitch sign-up, slides, paper reviews -----------------------------------


def group_sizes(students: int, groups: int, rng: random.Random, keep_free: int = 20) -> list[int]:
    """`groups` sizes of 1 to 5 that leave `keep_free` students for the paper reviews."""
    room = students - keep_free
    if room < groups:
        raise ValueError(f"{students} students cannot make {groups} groups and {keep_free} reviews")
    sizes = [rng.randint(1, MAX_GROUP) for _ in range(groups)]
    while sum(sizes) > room:
        i = max(range(groups), key=lambda k: sizes[k])
        sizes[i] -= 1
    if MAX_GROUP not in sizes and room >= groups + MAX_GROUP - 1:
        sizes[0] = MAX_GROUP  # one full group: a sixth person is refused
        while sum(sizes) > room:
            i = max(range(1, groups), key=lambda k: sizes[k])
            sizes[i] -= 1
    return sizes


def _open_link_logged_out(person: Person, page: str, password: str) -> Person:
    """The invitee opens the emailed link on a phone where they are not logged in: the site
    asks them to log in and then brings them to the linked page. Returns that phone."""
    phone = Person(person.base_url, person.timings, person.username, phone=True)
    response = phone.get(page)
    expect(response, 302, f"{person.username} opens {page} logged out")
    login = response.headers["Location"].removeprefix(person.base_url)
    if not login.startswith("/accounts/login/") or "next=" not in login:
        raise AssertionError(f"the emailed link sends a logged-out person to {login}")
    form = form_with_action(phone.page(login), "/accounts/login/", "login page", page=login)
    fields = form.data(login=person.username, password=password)
    response = phone.post_form(login, fields, form_page=login)
    expect(response, 302, f"{person.username} logs in from the emailed link")
    landed = response.headers["Location"].removeprefix(person.base_url)
    if landed != page:
        raise AssertionError(f"after logging in, {person.username} lands on {landed}, not {page}")
    return phone


def _invite_and_accept(
    creator: Person,
    invitee: Person,
    group_id: int,
    home: str,
    mail: MailSink | None,
    double_click: bool = False,
    phone_link: bool = False,
) -> None:
    said = submit(
        creator, home, f"/projects/groups/{group_id}/invite/", {"username": invitee.username}
    )
    succeeded(said, f"{creator.username} invites {invitee.username}")
    page = home
    address = getattr(invitee, "email", "")
    if mail is not None and address:
        # The invitation email links to the projects page, where the invitee answers.
        def invited():
            return [m for m in mail.to(address) if "invited you" in (m["Subject"] or "")]

        deadline = time.monotonic() + 30
        while not invited() and time.monotonic() < deadline:
            time.sleep(0.1)
        found = invited()
        if not found:
            raise AssertionError(f"no invitation email reached {address}")
        link = re.search(r"https?://\S+", mail.body(found[-1]))
        if link is None:
            raise AssertionError(f"the invitation email to {address} has no link")
        if not link.group(0).startswith(invitee.base_url + "/"):
            raise AssertionError(f"the invitation links to {link.group(0)}, not to the site")
        page = link.group(0).removeprefix(invitee.base_url)
        password = getattr(invitee, "password", "")
        if phone_link and password:
            invitee = _open_link_logged_out(invitee, page, password)
    html = invitee.page(page)
    ids = INVITATION_ACCEPT.findall(html)
    if len(ids) != 1:
        raise AssertionError(f"{invitee.username} sees {len(ids)} invitations to accept: {ids}")
    action = f"/projects/invitations/{ids[0]}/accept/"
    if double_click:
        # Accept pressed twice at once: one joins, the other is told it was already accepted.
        token = invitee.csrf(page)
        with ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda _: invitee.request(
                        "POST",
                        action,
                        data={"csrfmiddlewaretoken": token},
                        headers={"Referer": invitee.base_url + page},
                    ),
                    range(2),
                )
            )
        for response in answers:
            expect(response, 302, f"{invitee.username}'s double click on Accept")
        if "Your group:" not in invitee.page(page):
            raise AssertionError(f"{invitee.username} is in no group after accepting")
        return
    said = submit(invitee, page, action)
    succeeded(said, f"{invitee.username} accepts the invitation to group {group_id}")


def _form_one_group(
    index: int, members: list[Person], rng: random.Random, mail: MailSink | None, spare: str
) -> dict:
    creator = members[0]
    home = projects_home(creator)
    name = f"Group {index + 1:02d} {rng.choice(['Lens', 'Beam', 'Flux', 'Vortex', 'Atlas'])}"
    said = submit(
        creator, home, f"/projects/{home.strip('/').split('/')[-1]}/groups/new/", {"name": name}
    )
    succeeded(said, f"{creator.username} creates {name}")
    found = GROUP_INVITE.findall(creator.page(home))
    if len(found) != 1:
        raise AssertionError(f"{creator.username} does not see the invite form of {name}")
    group_id = int(found[0])
    for position, invitee in enumerate(members[1:], start=1):
        if position == 2:
            # One invitee declines at first; invited again, they accept.
            said = submit(
                creator,
                home,
                f"/projects/groups/{group_id}/invite/",
                {"username": invitee.username},
            )
            succeeded(said, f"{creator.username} invites {invitee.username}")
            ids = INVITATION_ACCEPT.findall(invitee.page(home))
            if len(ids) != 1:
                raise AssertionError(f"{invitee.username} sees invitations {ids}")
            said = submit(invitee, home, f"/projects/invitations/{ids[0]}/decline/")
            succeeded(said, f"{invitee.username} declines")
            if f"{invitee.username}\n" in creator.page(home).split("waiting for an answer")[-1]:
                raise AssertionError(f"{creator.username} still sees {invitee.username} invited")
        _invite_and_accept(
            creator, invitee, group_id, home, mail, position == 1, phone_link=position == 3
        )
    if len(members) == MAX_GROUP and spare:
        # The invite form is gone from a full group's page; posted anyway, it is refused.
        creator_token = creator.csrf(home)
        response = creator.request(
            "POST",
            f"/projects/groups/{group_id}/invite/",
            data={"username": spare, "csrfmiddlewaretoken": creator_token},
            headers={"Referer": creator.base_url + home},
        )
        refused(follow(creator, response, "sixth invitation"), "a sixth member", "at most")
    title = f"{name}: {rng.choice(['diffusion', 'graph nets', 'RL', 'audio'])} for good"
    signer = rng.choice(members)
    said = submit(signer, home, f"/projects/groups/{group_id}/signup/", {"title": title})
    succeeded(said, f"{signer.username} signs {name} up")
    slides = pdf([name, title, "3 minutes"], pages=rng.randint(1, 4))
    uploader = rng.choice(members)
    said = submit(
        uploader,
        home,
        f"/projects/groups/{group_id}/slides/",
        files={"slides": ("slides.pdf", slides, "application/pdf")},
    )
    succeeded(said, f"{uploader.username} uploads the slides of {name}")
    back = uploader.get(f"/projects/groups/{group_id}/slides.pdf")
    expect(back, 200, f"slides of {name}")
    if back.content != slides:
        raise AssertionError(f"the slides of {name} came back changed")
    return {
        "id": group_id,
        "name": name,
        "title": title,
        "members": [m.username for m in members],
    }


def form_groups(
    students: list[Person],
    rng: random.Random,
    groups: int = 60,
    mail: MailSink | None = None,
    keep_free: int = 20,
    threads: int = 8,
) -> list[dict]:
    """Students form `groups` pitch groups of 1 to 5 (leaving `keep_free` students in none),
    each signs up to pitch and uploads slides. Returns each group: id, name, title, members
    (usernames). With `mail` (and a Person.email), invitees follow the invitation email."""
    order = list(students)
    rng.shuffle(order)
    sizes = group_sizes(len(order), groups, rng, keep_free)
    spare = order[sum(sizes)].username if len(order) > sum(sizes) else ""
    plans, start = [], 0
    for index, size in enumerate(sizes):
        plans.append((index, order[start : start + size], random.Random(rng.random())))
        start += size
    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(_form_one_group, i, m, r, mail, spare) for i, m, r in plans]
        return [f.result() for f in futures]


def write_reviews(
    students: list[Person], rng: random.Random, count: int = 20, threads: int = 4
) -> list[str]:
    """`count` students in no group hand in a 1-page paper review instead; returns who."""
    order = list(students)
    rng.shuffle(order)
    chosen: list[Person] = []
    for person in order:
        if len(chosen) == count:
            break
        if "Your group:" not in person.page(projects_home(person)):
            chosen.append(person)
    if len(chosen) < count:
        raise AssertionError(f"only {len(chosen)} students are in no group")

    def review(person: Person) -> str:
        home = projects_home(person)
        paper = rng.choice(["Attention Is All You Need", "Deep Residual Learning", "U-Net"])
        said = submit(
            person,
            home,
            f"/projects/{home.strip('/').split('/')[-1]}/review/",
            {"paper_title": paper},
            files={"file": ("review.pdf", pdf([f"Review of {paper}"]), "application/pdf")},
        )
        succeeded(said, f"{person.username} submits a paper review")
        if "Your paper review" not in person.page(home):
            raise AssertionError(f"{person.username} does not see their review")
        return person.username

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(review, chosen))


# --- staff: the admin's final-project settings, schedule, conflicts ---------------------------


def edition_name(staff: Person) -> str:
    html = staff.page(projects_home(staff))
    found = re.search(r"<h1>(.*?): final project</h1>", html)
    if found is None:
        raise AssertionError("the projects page names no edition")
    return unescape(found.group(1))


def settings_form(staff: Person) -> tuple[str, Form]:
    """The edition's final-project settings in the admin, as the dashboard links them."""
    slug = edition_slug(staff)
    name = edition_name(staff)
    dashboard = staff.page(f"/projects/{slug}/staff/")
    if "/admin/projects/projectsettings/" not in dashboard:
        raise AssertionError("the staff dashboard has no link to the final-project settings")
    listing = staff.page("/admin/projects/projectsettings/")
    links = re.findall(
        r'href="(/admin/projects/projectsettings/\d+/change/)[^"]*">'
        + re.escape(escape(name))
        + "<",
        listing,
    )
    if len(links) != 1:
        raise AssertionError(f"expected one final-project settings row of {name}: {links}")
    path = links[0]
    html = staff.page(path)
    form = next((f for f in forms_of(html) if f.attrs.get("id") == "projectsettings_form"), None)
    if form is None:
        raise AssertionError("no settings form in the admin")
    return path, form


def _datetime_fields(zone: str, moments: dict) -> dict[str, str]:
    """The admin's split date and time inputs, typed in the edition's zone."""
    tz = ZoneInfo(zone)
    changes: dict[str, str] = {}
    for field, moment in moments.items():
        if moment is None:
            changes[f"{field}_0"] = changes[f"{field}_1"] = ""
        else:
            local = moment.astimezone(tz)
            changes[f"{field}_0"] = local.strftime("%Y-%m-%d")
            changes[f"{field}_1"] = local.strftime("%H:%M:%S")
    return changes


def _admin_errors(html: str) -> list[str]:
    found = re.findall(r'<ul class="errorlist[^"]*"[^>]*>(.*?)</ul>', html, re.S)
    return [unescape(re.sub(r"<[^>]+>", " ", e)).strip() for e in found]


def set_project_dates(staff: Person, zone: str = "America/New_York", **moments) -> None:
    """Staff type new final-project dates (e.g. signup_deadline=datetime) into the admin's
    settings form, in the edition's zone, and save; None empties a field."""
    path, form = settings_form(staff)
    _admin_save(staff, path, form.data(**_datetime_fields(zone, moments)), "dates")


def _admin_save(staff: Person, path: str, data: list[tuple[str, str]], what: str) -> None:
    response = staff.post_form(path, [*data, ("_save", "Save")], form_page=path)
    if response.status_code != 302:
        raise AssertionError(
            f"the admin refused the final-project {what}: {_admin_errors(response.text)}"
        )


def staff_open_projects(
    staff: Person,
    signup_deadline: datetime,
    slides_deadline: datetime,
    review_deadline: datetime,
    zone: str = "America/New_York",
    min_judges: int = 2,
    pitch_minutes: int = 3,
    prizes: str = "1 GPU\n4 smart speakers\n3 monitors",
) -> None:
    """Staff open the final projects of the current edition: the admin's "add final-project
    settings" form (the dashboard's "Deadlines and settings"), unless they exist already."""
    name = edition_name(staff)
    listing = staff.page("/admin/projects/projectsettings/")
    if re.search(r'/change/[^"]*">' + re.escape(escape(name)) + "<", listing):
        return
    path = "/admin/projects/projectsettings/add/"
    form = next(
        (f for f in forms_of(staff.page(path)) if f.attrs.get("id") == "projectsettings_form"),
        None,
    )
    if form is None:
        raise AssertionError("no form to add final-project settings in the admin")
    option = re.search(
        r'<option value="(\d+)"[^>]*>' + re.escape(escape(name)) + "</option>", staff.page(path)
    )
    if option is None:
        raise AssertionError(f"the admin offers no edition {name}")
    fields = _datetime_fields(
        zone,
        {
            "signup_deadline": signup_deadline,
            "slides_deadline": slides_deadline,
            "review_deadline": review_deadline,
        },
    )
    data = form.data(
        edition=option.group(1),
        min_judges_per_group=str(min_judges),
        pitch_minutes=str(pitch_minutes),
        prizes=prizes,
        **fields,
    )
    _admin_save(staff, path, data, "settings")


def staff_prepare_pitches(
    staff: Person,
    groups: list[dict],
    conflicts: dict[str, list[int]] | None = None,
    zone: str = "America/New_York",
    start_session: bool = True,
) -> None:
    """Before the pitches: sign-up, slides and reviews close (the admin's dates), the
    schedule is generated, staff add the judges' known conflicts; then the session starts."""
    slug = edition_slug(staff)
    now = datetime.now(ZoneInfo("UTC"))
    closed = now - timedelta(seconds=2)
    set_project_dates(
        staff,
        zone,
        signup_deadline=closed,
        slides_deadline=closed,
        review_deadline=closed,
        pitches_start_at=now + timedelta(hours=1),
    )
    dashboard = f"/projects/{slug}/staff/"
    said = submit(staff, dashboard, f"/projects/{slug}/staff/schedule/")
    text = succeeded(said, "generate the schedule")
    if f"{len(groups)} pitches" not in text:
        raise AssertionError(f"schedule: {text!r}, expected {len(groups)} pitches")
    for judge, group_ids in (conflicts or {}).items():
        for group_id in group_ids:
            said = submit(
                staff,
                dashboard,
                f"/projects/{slug}/staff/conflicts/",
                {"judge": judge, "group": str(group_id), "reason": "advised this group"},
            )
            succeeded(said, f"conflict {judge} / group {group_id}")
    if groups:
        # Attendance is marked from the session on: not yet.
        said = submit(
            staff, dashboard, f"/projects/groups/{groups[0]['id']}/attendance/", {"present": "yes"}
        )
        refused(said, "attendance before the session", "Attendance is marked from")
    if start_session:
        set_project_dates(staff, zone, pitches_start_at=datetime.now(ZoneInfo("UTC")))


def mark_reviews(staff: Person, reviewers: list[str], fail: int = 0) -> dict[str, str]:
    """Staff read each paper review and mark it pass (the last `fail` of them fail) from the
    dashboard; returns username -> status."""
    slug = edition_slug(staff)
    dashboard = f"/projects/{slug}/staff/"
    html = staff.page(dashboard)
    marks = {}
    for n, username in enumerate(reviewers):
        row = re.search(
            rf'\({re.escape(username)}\)</span></td><td><a href="(/projects/reviews/(\d+)/file/)"',
            html,
        )
        if row is None:
            raise AssertionError(f"the dashboard lists no review by {username}")
        expect(staff.get(row.group(1)), 200, f"the review of {username}")
        status = "fail" if n >= len(reviewers) - fail else "pass"
        said = submit(
            staff, dashboard, f"/projects/reviews/{row.group(2)}/mark/", {"status": status}
        )
        succeeded(said, f"mark the review of {username}")
        marks[username] = status
    return marks


def late_changes_refused(member: Person, group_id: int, free: Person | None = None) -> None:
    """After the deadlines a member's new slides, a new group and a new paper review are
    refused with the deadline (the pages no longer offer the forms; posted anyway)."""
    home = projects_home(member)
    slug = home.strip("/").split("/")[-1]
    html = member.page(home)
    if f"/projects/groups/{group_id}/slides/" in html:
        raise AssertionError("the slides form is still offered after the deadline")
    token = member.csrf(home)
    response = member.request(
        "POST",
        f"/projects/groups/{group_id}/slides/",
        data={"csrfmiddlewaretoken": token},
        files={"slides": ("late.pdf", pdf(["late"]), "application/pdf")},
        headers={"Referer": member.base_url + home},
    )
    refused(follow(member, response, "late slides"), "late slides", "closed")
    if free is not None:
        token = free.csrf(home)
        response = free.request(
            "POST",
            f"/projects/{slug}/review/",
            data={"csrfmiddlewaretoken": token, "paper_title": "Late"},
            files={"file": ("late.pdf", pdf(["late"]), "application/pdf")},
            headers={"Referer": free.base_url + home},
        )
        refused(follow(free, response, "late review"), "a late review", "closed")
        response = free.request(
            "POST",
            f"/projects/{slug}/groups/new/",
            data={"csrfmiddlewaretoken": free.csrf(home), "name": "Late group"},
            headers={"Referer": free.base_url + home},
        )
        refused(follow(free, response, "late group"), "a late group", "closed")


# --- judges: pitches on a phone ---------------------------------------------------------------


def ballot_for(judge: str, group_id: int, seed: int = 0) -> dict[str, int]:
    """What a judge gives a pitch: 1-5 on each criterion, the same every run."""
    rng = random.Random(f"{seed}:{judge}:{group_id}")
    return {c: rng.randint(1, 5) for c in CRITERIA}


def _score_with_script(judge: Person, group_id: int, html: str, scores: dict[str, int]) -> None:
    """As the sheet's script does on a phone: each tap saves one criterion through the
    ballot API (session cookie and the form's CSRF token), then the comment."""
    form = form_with_action(html, f"/projects/groups/{group_id}/score/", "score sheet")
    token = dict(form.fields)["csrfmiddlewaretoken"]
    api = re.search(r'data-api="([^"]+)"', html)
    if api is None:
        raise AssertionError("the score sheet names no ballot API")
    headers = {
        "X-CSRFToken": token,
        "Referer": judge.base_url + f"/projects/groups/{group_id}/score/",
    }
    url = unescape(api.group(1))
    first = next(iter(scores))
    # A phone's double tap: the first criterion is sent twice at once (the first save of a
    # ballot creates it: both must answer, one ballot).
    with ThreadPoolExecutor(2) as pool:
        taps = list(
            pool.map(
                lambda _: judge.request(
                    "POST", url, json={first: scores[first]}, headers=dict(headers)
                ),
                range(2),
            )
        )
    for response in taps:
        expect(response, 200, f"{judge.username}'s double tap on group {group_id}")
    for body in [{c: v} for c, v in scores.items()] + [{"comment": "clear pitch"}]:
        response = judge.request("POST", url, json=body, headers=headers)
        expect(response, 200, f"{judge.username} saves {body} for group {group_id}")
    if not response.json().get("complete"):
        raise AssertionError(f"{judge.username}'s ballot for {group_id} is not complete")


def _score_with_form(judge: Person, group_id: int, scores: dict[str, int], nxt: str) -> None:
    """Without script: the radios and "Save and next" post the form itself."""
    path = f"/projects/groups/{group_id}/score/"
    data = {**{c: str(v) for c, v in scores.items()}, "comment": "no script"}
    if nxt:
        data["next"] = nxt
    response = judge.post_form(path, data)
    expect(response, 302, f"{judge.username} posts the sheet of {group_id}")
    if nxt and not response.headers["Location"].endswith(nxt):
        raise AssertionError(f"'Save and next' went to {response.headers['Location']}")
    succeeded(follow(judge, response, "score sheet"), f"{judge.username} scores {group_id}")


def _check_conflict_refused(judge: Person, group_id: int, scores: dict[str, int]) -> None:
    path = f"/projects/groups/{group_id}/score/"
    expect(judge.get(path), 403, f"{judge.username} opens a conflicted sheet")
    expect(judge.get(f"/projects/groups/{group_id}/"), 403, "conflicted group page")
    expect(judge.get(f"/projects/groups/{group_id}/slides.pdf"), 403, "conflicted slides")
    expect(judge.get(f"/api/projects/groups/{group_id}/ballot/"), 403, "conflicted ballot")
    slug = edition_slug(judge)
    token = judge.csrf(f"/projects/{slug}/judging/")
    response = judge.request(
        "POST",
        path,
        data={**scores, "csrfmiddlewaretoken": token},
        headers={"Referer": judge.base_url + path},
    )
    expect(response, 403, f"{judge.username} posts a conflicted sheet")
    response = judge.request(
        "POST",
        f"/api/projects/groups/{group_id}/ballot/",
        json=scores,
        headers={"X-CSRFToken": token, "Referer": judge.base_url + path},
    )
    expect(response, 403, f"{judge.username} saves a conflicted ballot through the API")


def judge_pitches(
    judges: list[Person],
    groups: list[dict],
    conflicts: dict[str, list[int]] | None = None,
    declare: dict[str, list[int]] | None = None,
    seed: int = 0,
    threads: int = 8,
) -> dict[tuple[str, int], dict[str, int]]:
    """Each judge (Person(phone=True)) scores every pitch on their list, in schedule order,
    from the score sheet; judges in `declare` first declare a conflict on a group's sheet.
    Conflicted groups (staff's `conflicts` and the declared ones) are off the list and
    refused. Half the judges' phones run the sheet's script, the others post the form.
    Returns every ballot given: {(judge, group id): scores}."""
    conflicts = conflicts or {}
    declare = declare or {}
    ids = {g["id"] for g in groups}
    names = {g["id"]: g["name"] for g in groups}

    def one(index_judge: tuple[int, Person]) -> dict:
        index, judge = index_judge
        slug = edition_slug(judge)
        listing_path = f"/projects/{slug}/judging/"
        for group_id in declare.get(judge.username, []):
            sheet = f"/projects/groups/{group_id}/score/"
            said = submit(
                judge,
                sheet,
                f"/projects/groups/{group_id}/conflict/",
                {"reason": "a former student of mine"},
            )
            succeeded(said, f"{judge.username} declares a conflict with {group_id}")
            # Declared by mistake, undone from the list (the group is back), then declared
            # again for good.
            row = re.escape(f"<tr><td>{escape(names[group_id])}</td>")
            undo = re.search(
                row + r'(?:(?!</tr>).)*?action="(/projects/conflicts/\d+/withdraw/)"',
                judge.page(listing_path),
                re.S,
            )
            if undo is None:
                raise AssertionError(f"{judge.username} cannot undo the conflict with {group_id}")
            said = submit(judge, listing_path, undo.group(1))
            succeeded(said, f"{judge.username} undoes a conflict")
            if f'href="{sheet}"' not in judge.page(listing_path):
                raise AssertionError(f"group {group_id} is not back on {judge.username}'s list")
            said = submit(
                judge,
                sheet,
                f"/projects/groups/{group_id}/conflict/",
                {"reason": "on second thought"},
            )
            succeeded(said, f"{judge.username} declares the conflict with {group_id} again")
        barred = set(conflicts.get(judge.username, [])) | set(declare.get(judge.username, []))
        listed = [int(g) for g in dict.fromkeys(SCORE_LINK.findall(judge.page(listing_path)))]
        if set(listed) != ids - barred:
            raise AssertionError(
                f"{judge.username}'s list: {sorted(listed)}, expected {sorted(ids - barred)}"
            )
        api = judge.get(f"/api/projects/{slug}/judging/", kind="api")
        expect(api, 200, f"{judge.username}'s pitches through the API")
        if [g["id"] for g in api.json()["groups"]] != listed:
            raise AssertionError(f"{judge.username}: the API lists other pitches than the page")
        # Judges never see the standings nor each other's scores.
        for private in (
            f"/projects/{slug}/staff/",
            f"/projects/{slug}/staff/ballots.csv",
            f"/api/projects/{slug}/standings/",
            f"/api/projects/groups/{listed[0]}/scores/",
        ):
            expect(judge.get(private), 403, f"{judge.username} opens {private}")
        given = {}
        for position, group_id in enumerate(listed):
            path = f"/projects/groups/{group_id}/score/"
            html = judge.page(path)
            if "not open" in html and 'id="scoring-state"' in html:
                raise AssertionError(f"scoring is not open for {judge.username}: {path}")
            if position == 0:
                slides = judge.get(f"/projects/groups/{group_id}/slides.pdf")
                expect(slides, 200, f"{judge.username} opens the slides of {group_id}")
                if not slides.content.startswith(b"%PDF-"):
                    raise AssertionError("the slides are not a PDF")
            scores = ballot_for(judge.username, group_id, seed)
            nxt = (
                f"/projects/groups/{listed[position + 1]}/score/"
                if position + 1 < len(listed)
                else ""
            )
            if nxt and f'value="{nxt}"' not in html:
                raise AssertionError(f"the sheet of {group_id} has no 'Save and next'")
            if index % 2 == 0:
                _score_with_script(judge, group_id, html, scores)
            else:
                _score_with_form(judge, group_id, scores, nxt)
            given[(judge.username, group_id)] = scores
        for group_id in sorted(barred):
            _check_conflict_refused(judge, group_id, ballot_for(judge.username, group_id, seed))
        return given

    ballots: dict[tuple[str, int], dict[str, int]] = {}
    with ThreadPoolExecutor(threads) as pool:
        for given in pool.map(one, enumerate(judges)):
            ballots.update(given)
    return ballots


# --- staff: attendance and closing ------------------------------------------------------------


def mark_attendance(staff: Person, groups: list[dict], absent: int = 0) -> list[int]:
    """Staff mark each group present from the dashboard's schedule as it pitches (all but
    the last `absent`); returns the ids marked."""
    slug = edition_slug(staff)
    dashboard = f"/projects/{slug}/staff/"
    marked = []
    for group in groups[: len(groups) - absent]:
        said = submit(
            staff, dashboard, f"/projects/groups/{group['id']}/attendance/", {"present": "yes"}
        )
        succeeded(said, f"mark {group['name']} present")
        marked.append(group["id"])
    return marked


def close_scoring(
    staff: Person,
    groups: list[dict],
    zone: str = "America/New_York",
    late_judge: Person | None = None,
) -> None:
    """Staff close pitch scoring: refused while the session lasts; once it is over (the
    rehearsal moves the session's start back in the admin: the slots have passed) it
    closes, and a judge's late change is refused."""
    slug = edition_slug(staff)
    dashboard = f"/projects/{slug}/staff/"
    action = f"/projects/{slug}/staff/close-scoring/"
    said = submit(staff, dashboard, action)
    refused(said, "closing scoring during the pitches", "only after the pitches")
    minutes = int(dict(settings_form(staff)[1].fields).get("pitch_minutes") or 3)
    began = datetime.now(ZoneInfo("UTC")) - timedelta(minutes=minutes * len(groups) + 1)
    set_project_dates(staff, zone, pitches_start_at=began)
    succeeded(submit(staff, dashboard, action), "close pitch scoring")
    if 'id="project-phase">final<' not in staff.page(dashboard):
        raise AssertionError("the dashboard does not show the final projects as final")
    if late_judge is not None:
        listed = SCORE_LINK.findall(late_judge.page(f"/projects/{slug}/judging/"))
        if listed:
            group_id = int(listed[0])
            response = late_judge.post_form(
                f"/projects/groups/{group_id}/score/", {c: "1" for c in CRITERIA}
            )
            refused(follow(late_judge, response, "late ballot"), "a late ballot", "closed")


# --- lab finalists ------------------------------------------------------------------------------


def staff_assign_lab_judges(
    staff: Person, lab_ids: list[int], judges: list[str], finalists: int | None = None
) -> None:
    """Staff assign judges to each lab from its judging page (and set how many finalists
    the judges score)."""
    for lab_id in lab_ids:
        page = f"/labs/{lab_id}/judging/"
        if finalists is not None:
            said = submit(
                staff,
                page,
                f"/labs/{lab_id}/judging/update/",
                {"finalists": str(finalists)},
                having={"action": "finalists"},
            )
            succeeded(said, f"lab {lab_id}: {finalists} finalists")
        html = staff.page(page)
        for username in judges:
            option = re.search(
                rf'<option value="(\d+)">[^<]*\({re.escape(username)}\)</option>', html
            )
            if option is None:
                raise AssertionError(f"{username} is not offered on {page}")
            said = submit(
                staff,
                page,
                f"/labs/{lab_id}/judging/update/",
                {"judge": option.group(1)},
                having={"action": "assign"},
            )
            text = succeeded(said, f"assign {username} to lab {lab_id}")
            if "judges" not in text:
                raise AssertionError(f"assigning {username} to lab {lab_id}: {text!r}")
            html = staff.page(page)


def judge_lab_finalists(
    judges: list[Person],
    lab_ids: list[int],
    assigned: dict[int, list[str]] | None = None,
    seed: int = 0,
) -> dict[tuple[str, int], tuple[int, int]]:
    """After each lab's last window closed: every judge scores the finalists on their queue
    (/judging/) for criteria 2 and 3 from the entry's page. A judge not assigned to a lab
    (per `assigned`, lab id -> usernames) must be refused its finalists. Returns the scores
    given: {(judge, entry id): (soundness, descriptions)}."""
    given: dict[tuple[str, int], tuple[int, int]] = {}
    queues: dict[str, list[int]] = {}
    for judge in judges:
        html = judge.page("/judging/")
        entries = [int(e) for e in dict.fromkeys(ENTRY_LINK.findall(html))]
        queues[judge.username] = entries
        for entry_id in entries:
            path = f"/judging/entries/{entry_id}/"
            page = judge.page(path)
            if 'id="score-form"' not in page:
                raise AssertionError(f"{judge.username} has no score form on {path}")
            rng = random.Random(f"{seed}:{judge.username}:{entry_id}")
            scores = (rng.randint(1, 5), rng.randint(1, 5))
            said = submit(
                judge,
                path,
                path,
                {
                    "soundness": str(scores[0]),
                    "descriptions": str(scores[1]),
                    "comment": "tidy",
                },
            )
            succeeded(said, f"{judge.username} scores entry {entry_id}")
            given[(judge.username, entry_id)] = scores
    if assigned is not None:
        everyone = {e for entries in queues.values() for e in entries}
        for judge in judges:
            if all(judge.username in assigned.get(lab, []) for lab in lab_ids):
                continue
            for entry_id in sorted(everyone - set(queues[judge.username])):
                expect(
                    judge.get(f"/judging/entries/{entry_id}/"),
                    404,
                    f"{judge.username} opens entry {entry_id} of a lab they do not judge",
                )
    return given


# --- checks -------------------------------------------------------------------------------------


def check_projects(
    staff: Person,
    groups: list[dict],
    ballots: dict[tuple[str, int], dict[str, int]],
    reviewers: list[str],
    barred: dict[str, list[int]] | None = None,
    lab_scores: dict[tuple[str, int], tuple[int, int]] | None = None,
    min_judges: int | None = None,
    review_marks: dict[str, str] | None = None,
) -> dict:
    """Every ballot recorded once, as given, none from a conflicted judge; the standings are
    the exact means; every group scheduled and presented; the reviews and memberships as
    formed. Over HTTP (the CSV export, the standings API) and in the database."""
    from django.db.models import Count

    from judging.models import EntryScore, PitchBallot
    from projects.models import Membership, PaperReview, ProjectGroup, ProjectSettings

    slug = edition_slug(staff)
    barred = barred or {}
    by_id = {g["id"]: g for g in groups}
    # The CSV export: one row per ballot, as given.
    response = staff.get(f"/projects/{slug}/staff/ballots.csv")
    expect(response, 200, "ballots CSV")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    seen = Counter((r["judge"], r["group"]) for r in rows)
    expected = {(j, by_id[g]["name"]): s for (j, g), s in ballots.items()}
    if set(seen) != set(expected) or any(n != 1 for n in seen.values()):
        raise AssertionError(f"CSV ballots differ: {set(seen) ^ set(expected)}")
    for row in rows:
        want = expected[(row["judge"], row["group"])]
        got = {c: int(row[c]) for c in CRITERIA}
        if got != want or row["complete"] != "yes":
            raise AssertionError(f"CSV ballot {row['judge']}/{row['group']}: {got} != {want}")
    # The standings API: each group's final score is the exact mean of its judges' means.
    response = staff.get(f"/api/projects/{slug}/standings/", kind="api")
    expect(response, 200, "standings API")
    standings = {row["id"]: row for row in response.json()["groups"]}
    need = min_judges or response.json()["min_judges"]
    for group_id, group in by_id.items():
        means = [
            Fraction(sum(s.values()), len(CRITERIA))
            for (j, g), s in ballots.items()
            if g == group_id
        ]
        row = standings[group_id]
        if row["judges_counted"] != len(means):
            raise AssertionError(f"{group['name']}: {row['judges_counted']} judges, {len(means)}")
        if len(means) >= need:
            final = sum(means, Fraction(0)) / len(means)
            if Fraction(row["final"]) != final:
                raise AssertionError(f"{group['name']}: final {row['final']}, expected {final}")
    ranked = sorted(
        (r for r in standings.values() if r["rank"] is not None), key=lambda r: r["rank"]
    )
    finals = [Fraction(r["final"]) for r in ranked]
    if finals != sorted(finals, reverse=True):
        raise AssertionError("the standings are not in order of final score")
    # The database: what the pages said, and the rules held.
    db_ballots = PitchBallot.objects.filter(group__edition__slug=slug)
    pairs = Counter(db_ballots.values_list("judge__username", "group_id"))
    if set(pairs) != set(ballots) or any(n != 1 for n in pairs.values()):
        raise AssertionError(f"database ballots differ: {set(pairs) ^ set(ballots)}")
    for judge, group_ids in barred.items():
        if db_ballots.filter(judge__username=judge, group_id__in=group_ids).exists():
            raise AssertionError(f"{judge} has a ballot for a group they are conflicted with")
    signed = ProjectGroup.objects.filter(edition__slug=slug, signed_up_at__isnull=False)
    slots = sorted(signed.values_list("slot", flat=True))
    if slots != list(range(1, len(groups) + 1)):
        raise AssertionError(f"pitch slots {slots}")
    if set(signed.values_list("pk", flat=True)) != set(by_id):
        raise AssertionError("the signed-up groups differ from the groups formed")
    no_slides = signed.filter(slides_file="").count()
    if no_slides:
        raise AssertionError(f"{no_slides} groups without slides")
    members = {
        (u, g)
        for u, g in Membership.objects.filter(edition__slug=slug).values_list(
            "user__username", "group_id"
        )
    }
    formed = {(u, g["id"]) for g in groups for u in g["members"]}
    if members != formed:
        raise AssertionError(f"memberships differ: {members ^ formed}")
    sizes = signed.annotate(n=Count("memberships")).values_list("n", flat=True)
    if not all(1 <= n <= MAX_GROUP for n in sizes):
        raise AssertionError(f"group sizes {sorted(sizes)}")
    reviews = set(
        PaperReview.objects.filter(edition__slug=slug).values_list("user__username", flat=True)
    )
    if reviews != set(reviewers) or reviews & {u for u, _ in formed}:
        raise AssertionError(f"paper reviews {sorted(reviews)} != {sorted(reviewers)}")
    if review_marks is not None:
        stored_marks = dict(
            PaperReview.objects.filter(edition__slug=slug).values_list("user__username", "status")
        )
        if stored_marks != review_marks:
            raise AssertionError(f"review marks {stored_marks} != {review_marks}")
    # The pass report: every member's pitch was presented (marked, or balloted in the
    # session), each passed review counts, a failed one does not.
    response = staff.get("/staff/pass-report/?format=csv")
    expect(response, 200, "pass report CSV")
    project = {
        r["username"]: r["final project"] for r in csv.DictReader(io.StringIO(response.text))
    }
    for username, _ in formed:
        if username in project and project[username] != "pitch presented":
            raise AssertionError(f"pass report: {username}'s project is {project[username]!r}")
    for username in reviewers:
        want = "paper review passed" if (review_marks or {}).get(username) == "pass" else "no"
        if username in project and project[username] != want:
            raise AssertionError(f"pass report: {username}'s review is {project[username]!r}")
    if not ProjectSettings.objects.filter(
        edition__slug=slug, scoring_closed_at__isnull=False
    ).exists():
        raise AssertionError("pitch scoring is not closed")
    if lab_scores is not None:
        stored = {
            (j, e): (s, d)
            for j, e, s, d in EntryScore.objects.values_list(
                "judge__username", "entry_id", "soundness", "descriptions"
            )
        }
        if stored != lab_scores:
            raise AssertionError(
                f"lab scores differ: {set(stored.items()) ^ set(lab_scores.items())}"
            )
    return {
        "groups": len(groups),
        "members": len(formed),
        "reviews": len(reviews),
        "ballots": len(ballots),
        "ranked": len(ranked),
        "lab_scores": len(lab_scores or {}),
    }


def staff_close_lab_judging(staff: Person, lab_ids: list[int], late_judge: Person | None = None):
    """Staff close each lab's scoring; the judges then see the combined standings, and a
    late change is refused."""
    for lab_id in lab_ids:
        page = f"/labs/{lab_id}/judging/"
        said = submit(staff, page, f"/labs/{lab_id}/judging/update/", having={"action": "close"})
        succeeded(said, f"close the judging of lab {lab_id}")
        expect(staff.get(f"/labs/{lab_id}/judging/standings/"), 200, "prize standings")
        if late_judge is None:
            continue
        entries = ENTRY_LINK.findall(late_judge.page("/judging/"))
        expect(late_judge.get(f"/labs/{lab_id}/judging/standings/"), 200, "judge's standings")
        if entries:
            path = f"/judging/entries/{entries[0]}/"
            if 'id="score-form"' in late_judge.page(path):
                raise AssertionError("the score form is still offered after scoring closed")
            token = late_judge.csrf("/judging/")
            response = late_judge.request(
                "POST",
                path,
                data={"csrfmiddlewaretoken": token, "soundness": "1", "descriptions": "1"},
                headers={"Referer": late_judge.base_url + path},
            )
            expect(response, 200, "a late lab score")  # the page again, with the refusal
            refused(messages_of(response.text), "a late lab score", "closed")


def check_project_mail(mail: MailSink, groups: list[dict], emails: dict[str, str]) -> int:
    """The site's mail as people received it: each invited member an invitation (two for
    the one who declined first), each member of a group one pitch sign-up confirmation."""
    count = 0
    for group in groups:
        for position, username in enumerate(group["members"]):
            got = mail.to(emails[username])
            invited = [m for m in got if "invited you" in (m["Subject"] or "")]
            signed = [m for m in got if "signed up to pitch" in (m["Subject"] or "")]
            want = 0 if position == 0 else 2 if position == 2 else 1
            if len(invited) != want or len(signed) != 1:
                raise AssertionError(
                    f"{username}: {len(invited)} invitations (expected {want}), "
                    f"{len(signed)} sign-up confirmations"
                )
            count += len(invited) + len(signed)
    return count


def check_lab_judging(
    lab_ids: list[int],
    assigned: dict[int, list[str]],
    lab_scores: dict[tuple[str, int], tuple[int, int]],
) -> int:
    """Every assigned judge scored every finalist of each lab once, as given, and nobody
    else scored them (the database)."""
    from courses.models import Lab
    from judging.models import EntryScore
    from judging.selectors import finalist_entry_id, finalists_of

    want = set()
    for lab in Lab.objects.filter(pk__in=lab_ids):
        finalists = [finalist_entry_id(r) for r in finalists_of(lab)]
        if not finalists:
            raise AssertionError(f"{lab.title} has no finalists")
        want |= {(judge, e) for judge in assigned.get(lab.pk, []) for e in finalists}
    if set(lab_scores) != want:
        raise AssertionError(f"lab scores given {sorted(set(lab_scores) ^ want)} differ")
    stored = Counter(
        EntryScore.objects.filter(entry__lab_id__in=lab_ids).values_list(
            "judge__username", "entry_id"
        )
    )
    if set(stored) != want or any(n != 1 for n in stored.values()):
        raise AssertionError(f"stored lab scores differ: {sorted(set(stored) ^ want)}")
    return len(want)
