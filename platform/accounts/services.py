import secrets

from allauth.account.models import EmailAddress
from axes.utils import reset as axes_reset
from django.db import transaction

from core.errors import Refused
from core.permissions import require_staff

from .lockout import lockout_key
from .models import ApiToken, User, hash_token

MAX_ACTIVE_TOKENS = 10


class TokenError(Refused):
    """A token action refused, with the reason to show."""


@transaction.atomic
def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Create a token and return it with its key, which is shown once and never stored."""
    name = name.strip()
    if not name:
        raise TokenError("Give the token a name, e.g. 'colab'.")
    if len(name) > 100:
        raise TokenError("Token names are at most 100 characters.")
    # Lock the user row so parallel requests cannot pass the limit together.
    User.objects.select_for_update(of=("self",)).get(pk=user.pk)
    if user.api_tokens.filter(revoked_at__isnull=True).count() >= MAX_ACTIVE_TOKENS:
        raise TokenError(f"You already have {MAX_ACTIVE_TOKENS} active tokens; revoke one first.")
    key = secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=key[: ApiToken.PREFIX_LENGTH], key_hash=hash_token(key)
    )
    return token, key


def token_revoke(*, user: User, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise TokenError("No such token.", status=404)
    token.revoke()
    return token


def email_mark_verified(user: User) -> None:
    """Record the user's email as verified and primary (staff-made and demo accounts)."""

    if not user.email:
        return
    EmailAddress.objects.filter(user=user).exclude(email__iexact=user.email).update(primary=False)
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    elif not (address.verified and address.primary):
        address.verified = True
        address.primary = True
        address.save(update_fields=["verified", "primary"])


class UnlockRefused(Refused):
    """A login unlock refused, with the reason."""


def login_unlock(*, by: User, login: str = "", address: str = "") -> int:
    """Staff lift a login lockout before its cool-off ends: an account's (by username or
    email: both count against it) or an address's. Returns how many records were cleared."""
    require_staff(by, "Only staff unlock logins.", UnlockRefused)
    login, address = login.strip(), address.strip()
    if not login and not address:
        raise UnlockRefused("Give the username, the email or the address to unlock.")
    cleared = 0
    if login:
        cleared += axes_reset(username=lockout_key(login))
    if address:
        cleared += axes_reset(ip=address)
    return cleared
