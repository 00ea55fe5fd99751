"""Single sign-on: the identity provider's verified claims may verify an affiliation.

Which claim, and which of its values mean "registered student" or "affiliate", are settings
(OIDC_AFFILIATION_CLAIM, OIDC_STUDENT_VALUES, OIDC_AFFILIATE_VALUES). Claims come from the
signed ID token or the provider's userinfo endpoint, never from the browser.
"""

from allauth.account.signals import user_logged_in
from django.conf import settings
from django.dispatch import receiver

from .models import Affiliation, AffiliationSource, User


def claimed_values(extra_data: dict, claim: str) -> set[str]:
    values: set[str] = set()
    for part in ("id_token", "userinfo"):
        data = extra_data.get(part) or {}
        found = data.get(claim) if isinstance(data, dict) else None
        if isinstance(found, str):
            found = [found]
        if isinstance(found, list):
            values.update(str(v).strip().lower() for v in found)
    return values


def affiliation_from_claims(extra_data: dict) -> str | None:
    values = claimed_values(extra_data, settings.OIDC_AFFILIATION_CLAIM)
    if values & {v.lower() for v in settings.OIDC_STUDENT_VALUES}:
        return Affiliation.MIT_STUDENT
    if values & {v.lower() for v in settings.OIDC_AFFILIATE_VALUES}:
        return Affiliation.MIT_AFFILIATE
    return None


def apply_claims(user: User, extra_data: dict) -> bool:
    """Verify the user's affiliation from SSO claims; True when it changed."""
    affiliation = affiliation_from_claims(extra_data)
    if affiliation is None:
        return False
    if user.affiliation_source == AffiliationSource.ROSTER:
        return False  # the staff roster is more specific (e.g. listener) and wins
    if user.affiliation == affiliation and user.affiliation_source == AffiliationSource.SSO:
        return False
    user.affiliation = affiliation
    user.affiliation_source = AffiliationSource.SSO
    user.save(update_fields=["affiliation", "affiliation_source", "is_staff"])
    return True


@receiver(user_logged_in)
def _sso_login(sender, request, user, sociallogin=None, **kwargs) -> None:
    if sociallogin is not None and sociallogin.account.provider == "sso":
        apply_claims(user, sociallogin.account.extra_data or {})
