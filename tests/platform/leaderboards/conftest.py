import pytest

from factories import EditionFactory, LabFactory


@pytest.fixture
def edition(db):
    return EditionFactory(is_current=True)


@pytest.fixture
def debias(edition):
    return LabFactory(edition=edition, spec_id="lab2-debias", title="Lab 2: Debiasing")


@pytest.fixture
def cartpole(edition):
    return LabFactory(edition=edition, spec_id="lab3-cartpole", title="Lab 3: CartPole")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Many users per test: the default password hasher would dominate the run time.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
