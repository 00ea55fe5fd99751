from django.contrib.auth import views as auth_views
from django.urls import path

from . import api, views

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/tokens/", views.tokens, name="tokens"),
    path("accounts/tokens/<int:token_id>/revoke/", views.token_revoke, name="token-revoke"),
    path("api/me/", api.MeApi.as_view(), name="api-me"),
    path("api/tokens/", api.TokenListApi.as_view(), name="api-tokens"),
    path("api/tokens/<int:token_id>/", api.TokenDetailApi.as_view(), name="api-token"),
]
