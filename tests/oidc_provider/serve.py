"""Serve the loopback OIDC provider: migrate, create one person and one client, listen.

Usage: serve.py PORT REDIRECT_URI CLIENT_ID CLIENT_SECRET (env: OIDC_PROVIDER_DB,
OIDC_PROVIDER_KEY, IDP_USER as username:password:email:first:last). Prints READY when up.
"""

import os
import sys

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "provider_settings")
os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")  # loopback http only

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import (  # noqa: E402
    WSGIRequestHandler,  # noqa: E402
    WSGIServer,
    get_internal_wsgi_application,
)
from oauth2_provider.models import Application  # noqa: E402


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the test reads stdout for READY only
        pass


def main() -> None:
    port, redirect_uri, client_id, client_secret = sys.argv[1:5]
    call_command("migrate", verbosity=0)
    username, password, email, first, last = os.environ["IDP_USER"].split(":")
    User.objects.create_user(username, email, password, first_name=first, last_name=last)
    Application.objects.create(
        name="6.S191 platform",
        client_id=client_id,
        client_secret=client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=redirect_uri,
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    from socketserver import ThreadingMixIn

    class Server(ThreadingMixIn, WSGIServer):
        daemon_threads = True

    httpd = Server(("127.0.0.1", int(port)), QuietHandler)
    httpd.set_app(get_internal_wsgi_application())
    print("READY", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
