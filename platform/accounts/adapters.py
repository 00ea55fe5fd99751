from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings

from .models import AffiliationSource, Role


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return getattr(settings, "ACCOUNT_SIGNUP_OPEN", True)

    def save_user(self, request, user, form, commit=True):
        # Whoever signs up is a student with a self-declared affiliation; roles and
        # verification come only from staff (roster, invitations) or single sign-on.
        user.role = Role.STUDENT
        user.affiliation_source = AffiliationSource.SELF
        return super().save_user(request, user, form, commit)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        return getattr(settings, "ACCOUNT_SIGNUP_OPEN", True)

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        user.role = Role.STUDENT
        user.affiliation_source = AffiliationSource.SELF  # until the claims say otherwise
        return user
