"""How django-axes names the account a failed login was for.

People log in by username or email; both must count against the same account, or an
attacker would get twice the tries by alternating them. Unknown names count as typed.
"""

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
