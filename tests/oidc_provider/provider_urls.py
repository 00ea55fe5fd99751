import os

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider.oauth2_validators import OAuth2Validator


class ClaimsValidator(OAuth2Validator):
    """The claims a university IdP would assert: a verified email and an affiliation."""

    oidc_claim_scope = None  # every claim in both the ID token and userinfo

    def get_additional_claims(self, request):
        user = request.user
        return {
            "email": user.email,
            "email_verified": True,
            "preferred_username": user.username,
            "given_name": user.first_name,
            "family_name": user.last_name,
            # Like MIT's: a list of values; which ones count is the platform's setting.
            "affiliation": os.environ.get("IDP_AFFILIATION", "").split(",") or [],
        }


urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
]
