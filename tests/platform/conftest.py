"""Role personas for page and API tests: anonymous, student, judge, staff."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import Affiliation, Role
from factories import UserFactory

PERSONAS = ["anonymous", "student", "judge", "staff"]


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
