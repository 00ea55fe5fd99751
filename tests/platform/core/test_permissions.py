"""The one staff check."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied

from accounts.models import Role
from core.permissions import require_staff
from factories import UserFactory


class Refusal(Exception):
    pass


@pytest.mark.django_db
@pytest.mark.parametrize("role", [Role.STUDENT, Role.JUDGE])
def test_everyone_but_staff_is_refused(role):
    with pytest.raises(PermissionDenied, match="Only course staff"):
        require_staff(UserFactory(role=role))
    with pytest.raises(Refusal, match="not you"):
        require_staff(UserFactory(role=role), "not you", Refusal)
    with pytest.raises(PermissionDenied):
        require_staff(AnonymousUser())


@pytest.mark.django_db
def test_staff_and_superusers_pass():
    require_staff(UserFactory(role=Role.STAFF))
    require_staff(UserFactory(role=Role.STUDENT, is_superuser=True))
