"""Login lockouts (django-axes): how a failed login names its account, and which accounts
and addresses are locked out now.

People log in by username or email; both must count against the same account, or an
attacker would get twice the tries by alternating them. Unknown names count as typed.
"""

from dataclasses import dataclass
from datetime import datetime

from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import Max, Sum
from django.utils import timezone

from .models import User


def lockout_key(login: str) -> str:
    login = login.strip().lower()
    if "@" in login:
        user = User.objects.filter(email__iexact=login).only("username").first()
        if user is not None:
            return user.username.lower()
    return login


def username_of(request, credentials: dict | None) -> str:
    credentials = credentials or {}
    login = credentials.get("username") or credentials.get("email") or ""
    if not login and request is not None:
        login = request.POST.get("login", "") or request.POST.get("username", "")
    return lockout_key(str(login))


@dataclass(frozen=True)
class Lockout:
    kind: str  # "account" or "address"
    who: str  # the account's login name (lockout_key) or the address
    failures: int
    until: datetime  # when the cool-off ends by itself


def login_lockouts(now: datetime | None = None) -> list[Lockout]:
    """Every account and address locked out now: as axes counts them, the failures within
    the cool-off reach AXES_FAILURE_LIMIT (per account, whatever the address; per address,
    whatever the account)."""
    now = now or timezone.now()
    cool_off = get_cool_off()
    recent = AccessAttempt.objects.all()
    if cool_off is not None:
        recent = recent.filter(attempt_time__gte=now - cool_off)
    found = []
    known = {"username": recent.exclude(username=""), "ip_address": recent}
    for kind, field in (("account", "username"), ("address", "ip_address")):
        rows = (
            known[field]
            .filter(**{f"{field}__isnull": False})
            .values(field)
            .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
            .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
            .order_by(field)
        )
        for row in rows:
            until = row["last"] + cool_off if cool_off is not None else row["last"]
            found.append(Lockout(kind, row[field], row["failures"], until))
    return found
