import pytest

from factories import EditionFactory, ProjectSettingsFactory


@pytest.fixture
def edition(db):
    return EditionFactory(slug="iap-test", time_zone="America/New_York")


@pytest.fixture
def config(edition):
    return ProjectSettingsFactory(edition=edition)
