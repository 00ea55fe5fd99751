"""Single sign-on end to end: a real OpenID Connect provider (django-oauth-toolkit) on
loopback, in its own process, and the platform's allauth openid_connect client; nothing is
mocked: discovery, the authorize redirect, the provider's login page, the code-for-token
exchange with PKCE and client_secret_basic, the RS256 ID token and the userinfo call."""

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from accounts.models import AffiliationSource, Role, User
from factories import UserFactory

SHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
PROVIDER_DIR = Path(__file__).resolve().parents[2] / "oidc_provider"
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def idp(tmp_path, live_server, settings):
    """Start the provider; configure the platform's SSO exactly as the env vars would."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "idp.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    port = _free_port()
    client_id, client_secret = "platform-" + secrets.token_hex(4), secrets.token_urlsafe(24)
    redirect = f"{live_server.url}/accounts/oidc/sso/login/callback/"

    def start(person: str, affiliation: str):
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "PYTHONPATH": str(PROVIDER_DIR),
            "OIDC_PROVIDER_DB": str(tmp_path / "idp.sqlite3"),
            "OIDC_PROVIDER_KEY": str(key_file),
            "IDP_USER": person,
            "IDP_AFFILIATION": affiliation,
        }
        process = subprocess.Popen(
            [
                sys.executable,
                str(PROVIDER_DIR / "serve.py"),
                str(port),
                redirect,
                client_id,
                client_secret,
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        line = process.stdout.readline()
        assert line.strip() == "READY", line + process.stdout.read()[-3000:]
        settings.SOCIALACCOUNT_PROVIDERS = {
            "openid_connect": {
                "OAUTH_PKCE_ENABLED": True,
                "APPS": [
                    {
                        "provider_id": "sso",
                        "name": "MIT Touchstone",
                        "client_id": client_id,
                        "secret": client_secret,
                        "settings": {
                            "server_url": f"http://127.0.0.1:{port}/o",
                            "token_auth_method": "client_secret_basic",
                        },
                    }
                ],
            }
        }

    started: list[subprocess.Popen] = []
    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def _sso_login(page, shot: str = "") -> None:
    page.goto("/accounts/login/")
    if shot:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / shot), full_page=True)
    page.click("text=MIT Touchstone")
    page.click("button[type=submit]")  # allauth asks before leaving the site (a POST)
    page.wait_for_selector("#idp-username")  # the provider's own login page
    page.fill("#idp-username", "kim")
    page.fill("#idp-password", "idp-password-1")
    page.click("#idp-submit")
    page.wait_for_load_state()


def test_sso_round_trip_signs_up_and_verifies_a_registered_student(page, idp):
    idp("kim:idp-password-1:kim@mit.edu:Kim:Lee", "student,member")
    _sso_login(page, shot="accounts-login-sso-desktop.png")
    assert "Log out" in page.content(), page.content()[:3000]
    user = User.objects.get(email="kim@mit.edu")
    assert (user.first_name, user.last_name, user.role) == ("Kim", "Lee", Role.STUDENT)
    assert user.affiliation_source == AffiliationSource.SSO
    assert user.is_registered_mit_student and user.lab_prize_eligible
    assert user.socialaccount_set.get().provider == "sso"


def test_sso_links_an_invited_account_with_the_same_verified_email(page, idp):
    judge = UserFactory(
        username="kimjudge",
        email="kim@mit.edu",
        role=Role.JUDGE,
        affiliation_source=AffiliationSource.SELF,
        affiliation="public",
    )
    judge.set_unusable_password()
    judge.save()
    idp("kim:idp-password-1:kim@mit.edu:Kim:Lee", "alum")
    _sso_login(page)
    assert "kimjudge (Judge)" in page.content()
    assert User.objects.filter(email__iexact="kim@mit.edu").count() == 1
    judge.refresh_from_db()
    assert judge.socialaccount_set.count() == 1
    assert not judge.affiliation_verified  # "alum" is not a configured affiliation value
