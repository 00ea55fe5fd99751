from allauth.account import views as allauth_views
from django.urls import include, path

from . import api, views

urlpatterns = [
    # The old names stay (templates and tests use them); allauth serves both.
    path("accounts/login/", allauth_views.login, name="login"),
    path("accounts/logout/", allauth_views.logout, name="logout"),
    path("accounts/profile/", views.account, name="account"),
    path("accounts/tokens/", views.tokens, name="tokens"),
    path("accounts/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("accounts/", include("allauth.urls")),
    path("api/me/", api.MeApi.as_view(), name="api-me"),
    path("api/tokens/", api.TokenListApi.as_view(), name="api-tokens"),
    path("api/tokens/<int:token_id>/", api.TokenDetailApi.as_view(), name="api-token"),
]
