"""Which single sign-on claims verify an affiliation (names configurable by settings)."""

import pytest
from django.core import mail

from accounts.invitations import judge_invite
from accounts.models import Affiliation, AffiliationSource
from accounts.sso import affiliation_from_claims, apply_claims
from factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("extra_data", "expected"),
    [
        ({"id_token": {"affiliation": "student"}}, Affiliation.MIT_STUDENT),
        ({"userinfo": {"affiliation": ["Staff", "alum"]}}, Affiliation.MIT_AFFILIATE),
        ({"userinfo": {"affiliation": ["affiliate", "student"]}}, Affiliation.MIT_STUDENT),
        ({"userinfo": {"affiliation": "alum"}}, None),
        ({"userinfo": {"eduPersonAffiliation": "student"}}, None),  # not the configured claim
        ({"userinfo": {"affiliation": {"nested": "student"}}}, None),
        ({}, None),
    ],
)
def test_claims_map_to_affiliations(extra_data, expected):
    assert affiliation_from_claims(extra_data) == expected


def test_claim_names_come_from_settings(settings):
    settings.OIDC_AFFILIATION_CLAIM = "eduPersonAffiliation"
    settings.OIDC_STUDENT_VALUES = ["member-student"]
    data = {"userinfo": {"eduPersonAffiliation": ["member-student"]}}
    assert affiliation_from_claims(data) == Affiliation.MIT_STUDENT
    assert affiliation_from_claims({"userinfo": {"affiliation": "student"}}) is None


def test_sso_verifies_a_self_declared_person_but_never_overrides_the_roster():
    person = UserFactory(affiliation=Affiliation.PUBLIC, affiliation_source=AffiliationSource.SELF)
    assert apply_claims(person, {"id_token": {"affiliation": "student"}})
    person.refresh_from_db()
    assert person.affiliation_source == AffiliationSource.SSO and person.lab_prize_eligible
    listener = UserFactory(affiliation=Affiliation.MIT_LISTENER)  # roster-verified
    assert not apply_claims(listener, {"id_token": {"affiliation": "student"}})
    listener.refresh_from_db()
    assert listener.affiliation == Affiliation.MIT_LISTENER


def test_judges_are_invited_by_email_with_their_role(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        judge = judge_invite(email="grace@example.edu", name="Grace Hopper")
    assert judge.is_judge and (judge.first_name, judge.last_name) == ("Grace", "Hopper")
    [message] = mail.outbox
    assert "as a judge" in message.subject and "/accounts/password/reset/key/" in message.body
    # An existing account keeps its password; the person gets a notice, not a reset link.
    student = UserFactory(email="alan@example.edu")
    with django_capture_on_commit_callbacks(execute=True):
        judge_invite(email="ALAN@example.edu", name="Alan")
    student.refresh_from_db()
    assert student.is_judge and student.has_usable_password()
    assert "Log in at" in mail.outbox[-1].body


def test_the_invitation_link_sets_the_password(client, django_capture_on_commit_callbacks):
    import re
    from urllib.parse import urlsplit

    with django_capture_on_commit_callbacks(execute=True):
        judge_invite(email="mary@example.edu", name="Mary Somerville")
    link = re.search(r"http://\S+/accounts/password/reset/key/\S+", mail.outbox[0].body).group(0)
    form = client.get(urlsplit(link).path, follow=True)
    assert form.status_code == 200 and b"id_password1" in form.content
    done = client.post(
        form.redirect_chain[-1][0] if form.redirect_chain else link,
        {"password1": "judging-is-fun-191", "password2": "judging-is-fun-191"},
    )
    assert done.status_code == 302
    login = client.post("/accounts/login/", {"login": "mary", "password": "judging-is-fun-191"})
    assert login.status_code == 302 and "_auth_user_id" in client.session
