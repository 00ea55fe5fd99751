"""Staff page *People*: import a roster CSV, invite judges, unlock locked-out logins."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.shortcuts import redirect, render
from django.urls import reverse

from accounts.invitations import judge_invite
from accounts.lockout import login_lockouts
from accounts.services import login_unlock
from core.errors import attempt

from .models import EASTERN, Edition
from .roster import RosterError, roster_import
from .selectors import edition_current

MAX_ROSTER_BYTES = 2 * 1024 * 1024
# One file is imported in one request, inside gunicorn's 30 s timeout: about 6 ms a row and
# its invitation (2,000 rows took 18.6 s on a busy 2-core machine). The command takes more.
MAX_ROSTER_ROWS = 1000


@login_required
def people(request):
    if not request.user.is_course_staff:
        raise PermissionDenied("Staff only.")
    editions = Edition.objects.order_by("-created_at")
    problems: list[str] = []
    if request.method == "POST" and request.POST.get("action") == "roster":
        problems = _import(request)
        if not problems:
            return redirect("staff-people")
    elif request.method == "POST" and request.POST.get("action") == "judges":
        problems = _invite_judges(request)
        if not problems:
            return redirect("staff-people")
    elif request.method == "POST" and request.POST.get("action") == "unlock":
        login, address = request.POST.get("login", ""), request.POST.get("address", "")
        attempt(
            request,
            lambda: login_unlock(by=request.user, login=login, address=address),
            f"Unlocked {(login or address).strip()}: they can log in again.",
        )
        return redirect(reverse("staff-people") + "#lockouts")
    current = edition_current()
    return render(
        request,
        "courses/people.html",
        {
            "editions": editions,
            "current": current,
            "zone": current.time_zone if current else EASTERN,
            "problems": problems,
            "lockouts": login_lockouts(),
            "failure_limit": settings.AXES_FAILURE_LIMIT,
            "cooloff_minutes": round(settings.AXES_COOLOFF_TIME * 60),
        },
    )


def _import(request) -> list[str]:
    edition = Edition.objects.filter(pk=request.POST.get("edition") or 0).first()
    upload = request.FILES.get("roster")
    if edition is None or upload is None:
        return ["Choose an edition and a CSV file."]
    if upload.size > MAX_ROSTER_BYTES:
        return [f"The file is over {MAX_ROSTER_BYTES // 1024 // 1024} MB."]
    try:
        text = upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return ["The file is not UTF-8 text; export the roster as CSV (UTF-8)."]
    try:
        result = roster_import(edition=edition, text=text, max_rows=MAX_ROSTER_ROWS)
    except RosterError as error:
        return ["Nothing was imported. Fix these rows and upload the file again:", *error.problems]
    messages.success(request, f"Roster imported into {edition.name}: {result.summary()}")
    return []


def _invite_judges(request) -> list[str]:
    people = []
    problems = []
    for number, line in enumerate(request.POST.get("judges", "").splitlines(), start=1):
        if not line.strip():
            continue
        email, _, name = (part.strip() for part in line.partition(","))
        try:
            validate_email(email)
        except ValidationError:
            problems.append(f"Line {number}: '{email}' is not an email address.")
            continue
        people.append((email, name))
    if problems or not people:
        return problems or ["Write one judge a line: email, name."]
    for email, name in people:
        judge_invite(email=email, name=name)
    messages.success(request, f"Invited {len(people)} judge(s) by email.")
    return []
