"""Role personas for page and API tests: anonymous, student, judge, staff; a browser page."""

import os
from pathlib import Path

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Affiliation, Role
from factories import EditionFactory, LabFactory, UserFactory

PERSONAS = ["anonymous", "student", "judge", "staff"]


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Uploads go to a scratch folder, never the developer's var/media (nor its worker cache)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.GRADER_CACHE_DIR = tmp_path / "worker-cache"


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Request-rate counters live in the cache: each test starts with none of another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def shared_redis():
    """The test Redis (an emptied database) as the site's Celery broker; the broker the
    site had before comes back afterwards."""
    import redis

    from celery_helpers import use_broker
    from config.celery import app

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.ConnectionError:
        if os.environ.get("REQUIRE_SERVICES") == "1":
            pytest.fail(f"Redis at {url} is not answering and REQUIRE_SERVICES=1")
        pytest.skip(f"no Redis at {url}")
    before = app.conf.broker_url
    client.flushdb()
    use_broker(url)
    yield url
    client.flushdb()
    use_broker(before)


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Tests make many users; the default password hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def edition(db):
    return EditionFactory(is_current=True)


@pytest.fixture
def debias(edition):
    return LabFactory(edition=edition, spec_id="lab2-debias", title="Lab 2: Debiasing")


@pytest.fixture
def mnist(edition):
    return LabFactory(edition=edition, spec_id="lab2-mnist", title="Lab 2: MNIST")


@pytest.fixture
def cartpole(edition):
    return LabFactory(edition=edition, spec_id="lab3-cartpole", title="Lab 3: CartPole")


@pytest.fixture
def make_user(db):
    return UserFactory


@pytest.fixture
def student(db):
    return UserFactory(username="stu", role=Role.STUDENT, affiliation=Affiliation.MIT_STUDENT)


@pytest.fixture
def other_student(db):
    return UserFactory(username="stu2", role=Role.STUDENT, affiliation=Affiliation.PUBLIC)


@pytest.fixture
def judge(db):
    return UserFactory(username="judge", role=Role.JUDGE, affiliation=Affiliation.PUBLIC)


@pytest.fixture
def staff(db):
    return UserFactory(username="staffer", role=Role.STAFF, affiliation=Affiliation.MIT_AFFILIATE)


def _client_for(request, name: str, client_class):
    client = client_class()
    if name != "anonymous":
        client.force_login(request.getfixturevalue(name))
    return client


@pytest.fixture(params=PERSONAS)
def persona(request, db):
    """(name, logged-in Django test client) for each role in turn."""
    return request.param, _client_for(request, request.param, Client)


@pytest.fixture
def client_as(request, db):
    def make(name: str) -> Client:
        return _client_for(request, name, Client)

    return make


@pytest.fixture
def api_as(request, db):
    def make(name: str) -> APIClient:
        return _client_for(request, name, APIClient)

    return make


# --- headless Chromium (Debian's) driven by Playwright -------------------------------------

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing and REQUIRE_BROWSER=1 (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls that
    # tests and fixtures make next to it are still plain synchronous calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(chromium, live_server, request):
    """A fresh browser page on the live server; its screenshot is saved after the test."""
    context = chromium.new_context(
        base_url=live_server.url, viewport={"width": 1200, "height": 800}
    )
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}.png"), full_page=True)
    context.close()
