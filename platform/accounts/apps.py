from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        from . import sso  # noqa: F401  (connects the SSO claims receiver)
