"""What the course rehearsal drives the site with: people's browsers (a session each, forms with
their CSRF token, as a browser posts them), the notebook API, a real SMTP server on loopback
for the site's mail, and every request's time and status.

Nothing here edits the database: the rehearsal may only do what a person can do over HTTP.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from html import unescape

import requests

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile"
DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/156.0 Safari/537.36"


class ServerError(AssertionError):
    """The site answered 5xx where no fault was being injected: a rehearsal failure."""


@dataclass
class Timings:
    """Every request's seconds by kind ('page', 'api', 'leaderboard_api', 'upload'), the
    server errors (5xx outside a fault window) and the 503s a fault window excused."""

    seconds: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    server_errors: list[str] = field(default_factory=list)
    excused: Counter = field(default_factory=Counter)
    in_fault: threading.Event = field(default_factory=threading.Event)
    faults_begun: int = 0  # a request during which this changed overlapped a fault
    rushing: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fault_begins(self) -> None:
        with self.lock:
            self.faults_begun += 1
        self.in_fault.set()

    def during_fault(self, began_with: int, was_in_fault: bool) -> bool:
        """Whether a request overlapped a fault: one was on when it was sent or answered, or
        one began meanwhile (an upload in flight when PostgreSQL restarts fails after it)."""
        return was_in_fault or self.in_fault.is_set() or self.faults_begun != began_with

    def record(
        self, kind: str, seconds: float, status: int, what: str, in_fault: bool = False
    ) -> None:
        with self.lock:
            if status >= 500:
                # A restart of the database, broker or site may answer 503 (with Retry-After)
                # or 502 while it lasts; anything else, or any 5xx outside a fault, fails.
                if in_fault and status in (502, 503):
                    self.excused[what.split(" ")[0]] += 1
                else:
                    self.server_errors.append(f"{status} {what}")
                return
            if self.rushing.is_set():
                self.seconds[kind].append(seconds)


class Person:
    """One person's browser (or notebook): a cookie session, or an API token."""

    def __init__(self, base_url: str, timings: Timings, username: str, phone: bool = False):
        self.base_url = base_url
        self.timings = timings
        self.username = username
        self.session = requests.Session()
        self.session.headers["User-Agent"] = PHONE if phone else DESKTOP
        self.token = ""
        self.email = ""  # where the site's mail to this person goes (the rehearsal reads it)

    # -- requests -------------------------------------------------------------------------
    def request(
        self, method: str, path: str, kind: str = "page", retry_fault: bool = True, **kwargs
    ) -> requests.Response:
        """One request; while a fault is injected, a 502/503 or a refused connection is tried
        again after a pause (as a person would press reload), up to a minute."""
        url = path if path.startswith("http") else self.base_url + path
        kwargs.setdefault("timeout", 120)
        kwargs.setdefault("allow_redirects", False)
        give_up = time.monotonic() + 90
        timings = self.timings
        while True:
            t0 = time.perf_counter()
            began_with, was_in_fault = timings.faults_begun, timings.in_fault.is_set()
            try:
                response = self.session.request(method, url, **kwargs)
            except requests.ConnectionError:
                faulty = timings.during_fault(began_with, was_in_fault)
                if retry_fault and faulty and time.monotonic() < give_up:
                    time.sleep(1)
                    continue
                raise
            elapsed = time.perf_counter() - t0
            faulty = timings.during_fault(began_with, was_in_fault)
            timings.record(kind, elapsed, response.status_code, f"{method} {path}", faulty)
            retryable = response.status_code in (502, 503) and faulty
            if retry_fault and retryable and time.monotonic() < give_up:
                time.sleep(1)
                _rewind(kwargs)
                continue
            return response

    def get(self, path: str, kind: str = "page", **kwargs) -> requests.Response:
        return self.request("GET", path, kind, **kwargs)

    def page(self, path: str) -> str:
        """A page a person reads: it must answer 200."""
        response = self.get(path)
        expect(response, 200, f"GET {path} as {self.username}")
        return response.text

    def csrf(self, path: str) -> str:
        """The form's CSRF token, read from the page as a browser has it."""
        found = CSRF_INPUT.search(self.page(path))
        if found is None:
            raise AssertionError(f"no form with a CSRF token on {path}")
        return unescape(found.group(1))

    def post_form(
        self,
        path: str,
        data: dict | list | None = None,
        files: dict | None = None,
        form_page: str | None = None,
        kind: str = "page",
    ) -> requests.Response:
        """Submit a form found on `form_page` (default: `path` itself) as a browser does."""
        token = self.csrf(form_page or path)
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        fields.append(("csrfmiddlewaretoken", token))
        headers = {"Referer": self.base_url + (form_page or path)}
        return self.request("POST", path, kind, data=fields, files=files, headers=headers)

    def login(self, password: str) -> None:
        response = self.post_form(
            "/accounts/login/", {"login": self.username, "password": password}
        )
        expect(response, 302, f"login of {self.username}")

    # -- the notebook API -----------------------------------------------------------------
    def api(self, method: str, path: str, kind: str = "api", **kwargs) -> requests.Response:
        headers = kwargs.pop("headers", {})
        headers["Authorization"] = f"Token {self.token}"
        return self.request(method, path, kind, headers=headers, **kwargs)


def _rewind(kwargs: dict) -> None:
    """A retried upload sends its file again from the start."""
    for _, value in (kwargs.get("files") or {}).items():
        handle = value[1] if isinstance(value, tuple) else value
        if hasattr(handle, "seek"):
            handle.seek(0)


def expect(response: requests.Response, status: int | tuple[int, ...], what: str) -> None:
    wanted = (status,) if isinstance(status, int) else status
    if response.status_code not in wanted:
        raise AssertionError(
            f"{what}: HTTP {response.status_code}, expected {wanted}: {response.text[:300]}"
        )


class MailSink:
    """A real SMTP server on loopback (aiosmtpd): the site sends its mail here over SMTP, and
    the rehearsal reads the links in it as the person would, and counts every message."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        from .stack import free_port

        self.messages: list[Message] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        message = message_from_bytes(envelope.content)
        message["X-Rcpt"] = ", ".join(envelope.rcpt_tos)
        with self.lock:
            self.messages.append(message)
        return "250 OK"

    def env(self) -> dict[str, str]:
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "0",
        }

    def to(self, address: str) -> list[Message]:
        with self.lock:
            return [m for m in self.messages if address.lower() in m["X-Rcpt"].lower()]

    def body(self, message: Message) -> str:
        parts = message.walk() if message.is_multipart() else [message]
        for part in parts:
            if part.get_content_type() == "text/plain":
                payload = part.get_payload(decode=True)
                return payload.decode() if isinstance(payload, bytes) else str(payload)
        return ""

    def stop(self) -> None:
        self.controller.stop()
