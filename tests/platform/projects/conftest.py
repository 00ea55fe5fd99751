import pytest

from factories import EditionFactory, ProjectSettingsFactory


@pytest.fixture
def edition(db):
    return EditionFactory(slug="iap-test", time_zone="America/New_York")


@pytest.fixture
def config(edition):
    return ProjectSettingsFactory(edition=edition)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploaded slides and reviews go to a scratch folder, never the developer's var/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # Every test makes several users; real PBKDF2 would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
