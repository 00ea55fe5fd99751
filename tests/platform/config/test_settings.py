import os
import subprocess
import sys
from pathlib import Path

import pytest

from config.env import DEFAULT_SECRET_KEY, ProductionCheck, env_bool, production_problems

ROOT = Path(__file__).resolve().parents[3]
GOOD = dict(
    production=True,
    debug=False,
    secret_key="k" * 50,
    allowed_hosts=["grader.example.edu"],
    grader_backend="docker",
    allow_process_backend=False,
)


def test_safe_production_config_has_no_problems():
    assert production_problems(ProductionCheck(**GOOD)) == []


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"debug": True}, "DJANGO_DEBUG"),
        ({"secret_key": DEFAULT_SECRET_KEY}, "DJANGO_SECRET_KEY"),
        ({"secret_key": "short"}, "DJANGO_SECRET_KEY"),
        ({"allowed_hosts": ["*"]}, "DJANGO_ALLOWED_HOSTS"),
        ({"allowed_hosts": []}, "DJANGO_ALLOWED_HOSTS"),
        ({"grader_backend": "process"}, "GRADER_ALLOW_PROCESS_BACKEND"),
        ({"email_backend": "django.core.mail.backends.console.EmailBackend"}, "EMAIL_BACKEND"),
        ({"email_backend": "django.core.mail.backends.locmem.EmailBackend"}, "EMAIL_BACKEND"),
        ({"email_host": ""}, "EMAIL_HOST"),
    ],
)
def test_each_unsafe_production_setting_is_named(change, problem):
    problems = production_problems(ProductionCheck(**{**GOOD, **change}))
    assert len(problems) == 1 and problem in problems[0]


def test_process_backend_allowed_in_production_only_explicitly():
    check = ProductionCheck(**{**GOOD, "grader_backend": "process", "allow_process_backend": True})
    assert production_problems(check) == []


def test_development_has_no_production_rules():
    check = ProductionCheck(**{**GOOD, "production": False, "debug": True, "secret_key": ""})
    assert production_problems(check) == []


def _import_settings(env: dict) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GRADER_"))}
    return subprocess.run(
        [sys.executable, "-c", "import config.settings"],
        cwd=ROOT,
        env={**clean, "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_settings_module_refuses_to_start_with_default_secret_in_production(tmp_path):
    result = _import_settings({"DJANGO_ENV": "production", "PLATFORM_VAR_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "Refusing to start in production" in result.stderr
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_settings_module_starts_with_a_safe_production_config(tmp_path):
    result = _import_settings(
        {
            "DJANGO_ENV": "production",
            "DJANGO_SECRET_KEY": "s" * 64,
            "DJANGO_ALLOWED_HOSTS": "grader.example.edu",
            "GRADER_BACKEND": "docker",
            "PLATFORM_VAR_DIR": str(tmp_path),
            # Sign-up verification and password resets need real mail in production.
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "smtp.example.edu",
        }
    )
    assert result.returncode == 0, result.stderr


def test_behind_the_proxy_allauth_limits_each_person_by_their_own_address(tmp_path):
    """allauth's limits per address (sign-ups, logins) read the client's address as the
    lockout does; without it every person behind the site's proxy was the proxy."""
    script = (
        "import django; django.setup()\n"
        "from allauth.account.adapter import get_adapter\n"
        "from django.test import RequestFactory\n"
        "request = RequestFactory().post('/accounts/signup/', REMOTE_ADDR='10.0.0.2',"
        " HTTP_X_FORWARDED_FOR='198.51.100.7')\n"
        "print(get_adapter(request).get_client_ip(request))\n"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "GRADER_"))}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={
            **clean,
            "PYTHONPATH": f"{ROOT / 'platform'}:{ROOT}",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "production",  # one proxy in front (AXES_PROXY_COUNT's default)
            "DJANGO_SECRET_KEY": "s" * 64,
            "DJANGO_ALLOWED_HOSTS": "grader.example.edu",
            "GRADER_BACKEND": "docker",
            "PLATFORM_VAR_DIR": str(tmp_path),
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "smtp.example.edu",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "198.51.100.7"


def test_bad_boolean_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "maybe")
    with pytest.raises(ValueError, match="SOME_FLAG must be a boolean"):
        env_bool("SOME_FLAG")


def test_platform_dir_does_not_shadow_the_standard_library():
    assert not (ROOT / "platform" / "__init__.py").exists()
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.path.insert(0, 'platform'); import platform; "
            "print(platform.python_version())",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ".".join(map(str, sys.version_info[:3]))
