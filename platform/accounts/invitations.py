"""Invitations: people staff add (roster students, judges) get an email with a link that sets
their password; single sign-on with the same verified email links to the same account.

The link is allauth's password-reset link (signed, one use, valid PASSWORD_RESET_TIMEOUT),
so an expired invitation is renewed with "Forgot password" on the login page.

Staff vouch for an address, never for an account name: an account that already holds the
address but never proved it (anyone can sign up with someone else's email and never
verify it) is handed to whoever reads that mailbox (`_unproven_account_reset`).
"""

from allauth.account.forms import default_token_generator
from allauth.account.models import EmailAddress
from allauth.account.utils import user_pk_to_url_str
from allauth.socialaccount.models import SocialAccount
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify

from .models import Role, User
from .services import email_mark_verified


def password_set_url(user: User) -> str:
    path = reverse(
        "account_reset_password_from_key",
        kwargs={
            "uidb36": user_pk_to_url_str(user),
            "key": default_token_generator.make_token(user),
        },
    )
    return settings.SITE_URL + path


def invitation_send(user: User, what: str) -> None:
    """Email `user` that they were added as `what`, after the surrounding transaction commits."""

    def send() -> None:
        if user.has_usable_password():
            how = f"Log in at {settings.SITE_URL}{reverse('login')} as usual."
        else:
            how = (
                f"Set your password here (the link works once, for a few days):\n"
                f"{password_set_url(user)}\n\nYour username is {user.username}."
            )
        if settings.SOCIALACCOUNT_PROVIDERS:
            how += f"\nOr log in with {settings.OIDC_PROVIDER_NAME} using this email address."
        send_mail(
            f"[6.S191] You have been added as {what}",
            f"Hello {user},\n\nCourse staff added you to the 6.S191 lab competitions as {what}."
            f"\n\n{how}\n",
            None,
            [user.email],
        )

    transaction.on_commit(send)


def free_username(email: str, wanted: str = "") -> str:
    base = slugify(wanted or email.split("@", 1)[0])[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}{n}"
    return name


def split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first[:150], last.strip()[:150]


def address_proven(user: User, email: str) -> bool:
    """Whether `user` proved they read `email` (allauth's verified address)."""
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


def proven_owner(email: str) -> User | None:
    """The account that proved it reads `email`, if any: the only account an address staff
    typed may vouch for."""
    address = (
        EmailAddress.objects.filter(email__iexact=email, verified=True)
        .select_related("user")
        .first()
    )
    return address.user if address is not None else None


def _unproven_account_reset(user: User, name: str) -> None:
    """An account holds the address staff typed but never proved it: whoever made it (maybe
    not the address's owner) loses every way in they set up (password, single sign-on
    links, API tokens), and the invitation sent to the address sets a new password. Such an
    account could never log in (email verification is mandatory), so its owner loses
    nothing they had."""
    user.set_unusable_password()
    first, last = split_name(name)
    if first:
        user.first_name, user.last_name = first, last
    user.save(update_fields=["password", "first_name", "last_name"])
    SocialAccount.objects.filter(user=user).delete()
    user.api_tokens.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def person_invite(*, email: str, name: str, role: str, username: str = "") -> tuple[User, bool]:
    """Create (or find by email) the account of someone staff add; invite them by email.

    Returns (user, created). An existing account that proved the address keeps its password
    and gets a notice; one that never proved it is reset for the address's owner first.
    """
    existing = proven_owner(email) or User.objects.filter(email__iexact=email).first()
    created = existing is None
    if existing is not None and not address_proven(existing, email):
        _unproven_account_reset(existing, name)
    if existing is None:
        first, last = split_name(name)
        user = User(
            username=free_username(email, username),
            email=email,
            first_name=first,
            last_name=last,
            role=role,
        )
        user.set_unusable_password()
        user.save()
    else:
        user = existing
    if not created and user.role != role and role != Role.STUDENT:
        user.role = role  # staff decided: e.g. a student becomes a judge
        user.save(update_fields=["role", "is_staff"])
    if user.email.lower() == email.lower():
        email_mark_verified(user)  # staff vouch for the address they typed
    return user, created


def judge_invite(*, email: str, name: str) -> User:
    user, _ = person_invite(email=email, name=name, role=Role.JUDGE)
    invitation_send(user, "a judge")
    return user
