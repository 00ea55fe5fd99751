"""Reading settings from the environment, and the rules a production configuration must meet."""

import os
from dataclasses import dataclass

DEFAULT_SECRET_KEY = "insecure-dev-key-do-not-use-in-production"  # noqa: S105


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"{name} must be a boolean (1/0, true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {value!r}") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


@dataclass(frozen=True)
class ProductionCheck:
    production: bool
    debug: bool
    secret_key: str
    allowed_hosts: list[str]
    grader_backend: str
    allow_process_backend: bool
    # Defaults keep older callers valid; settings.py always passes the real values.
    email_backend: str = "django.core.mail.backends.smtp.EmailBackend"
    email_host: str = "smtp"


def production_problems(check: ProductionCheck) -> list[str]:
    """Everything that makes a configuration unsafe to serve real students with."""
    if not check.production:
        return []
    problems = []
    if check.debug:
        problems.append("DJANGO_DEBUG is on")
    if not check.secret_key or check.secret_key == DEFAULT_SECRET_KEY or len(check.secret_key) < 32:
        problems.append("DJANGO_SECRET_KEY is unset, the default, or shorter than 32 characters")
    if not check.allowed_hosts or "*" in check.allowed_hosts:
        problems.append("DJANGO_ALLOWED_HOSTS must list the site's host names (no '*')")
    if check.grader_backend == "process" and not check.allow_process_backend:
        problems.append(
            "GRADER_BACKEND=process isolates entries only weakly; use docker, or set "
            "GRADER_ALLOW_PROCESS_BACKEND=1 to accept that explicitly"
        )
    parts = check.email_backend.split(".")
    if len(parts) >= 2 and parts[-2] in {"console", "locmem", "dummy", "filebased"}:
        problems.append(
            "EMAIL_BACKEND prints or drops mail; sign-up verification, password resets and "
            "invitations need a real one (django.core.mail.backends.smtp.EmailBackend)"
        )
    elif check.email_backend.endswith("smtp.EmailBackend") and not check.email_host:
        problems.append("EMAIL_HOST is unset: the SMTP backend needs a mail server")
    return problems
