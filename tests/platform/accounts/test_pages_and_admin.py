import pytest
from django.urls import reverse

from accounts.models import ApiToken, User
from courses.models import Edition, Enrollment, Lab
from health.models import WorkerHeartbeat

ADMIN_MODELS = [User, ApiToken, Edition, Lab, Enrollment, WorkerHeartbeat]


def test_admin_index_is_for_staff_only(persona):
    name, client = persona
    response = client.get("/admin/")
    if name == "staff":
        assert response.status_code == 200
        assert b"Site administration" in response.content or b"staff" in response.content
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m.__name__)
def test_admin_changelists_search_and_filter_for_staff(client_as, model):
    client = client_as("staff")
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    response = client.get(url, {"q": "x"})
    assert response.status_code == 200
    assert client_as("student").get(url).status_code == 302


def test_home_lists_labs_for_everyone(persona, db):
    name, client = persona
    edition = Edition.objects.create(name="IAP 2099", slug="iap-2099", is_current=True)
    Lab.objects.create(
        edition=edition,
        spec_id="lab2-debias",
        title="Debiasing facial detection",
        opens_at="2099-01-01T00:00Z",
        closes_at="2099-01-28T04:59Z",
    )
    response = client.get("/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Debiasing facial detection" in body
    assert "January 27, 2099, 11:59 pm EST" in body
    if name == "anonymous":
        assert "Log in to submit" in body
    else:
        username = {"student": "stu", "judge": "judge", "staff": "staffer"}[name]
        assert f"{username} (" in body
        assert "Log in to submit" not in body


def test_token_page_needs_login(persona):
    name, client = persona
    response = client.get(reverse("tokens"))
    if name == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))
    else:
        assert response.status_code == 200


def test_login_and_logout_flow(client, student):
    response = client.post(
        reverse("login"), {"login": "stu", "password": "pw-for-tests-1"}, follow=True
    )
    assert response.status_code == 200
    assert response.context["user"].username == "stu"
    response = client.post(reverse("logout"), follow=True)
    assert not response.context["user"].is_authenticated


def test_login_with_wrong_password_says_so(client, student):
    response = client.post(reverse("login"), {"login": "stu", "password": "nope"})
    assert response.status_code == 200
    assert b"are not correct" in response.content
    assert "_auth_user_id" not in client.session


def test_only_staff_role_gets_into_admin(make_user):
    from accounts.models import Role

    judge = make_user(role=Role.JUDGE)
    staff = make_user(role=Role.STAFF)
    assert not judge.is_staff
    assert staff.is_staff
    staff.role = Role.STUDENT
    staff.save()
    staff.refresh_from_db()
    assert not staff.is_staff


def test_admin_shows_verified_or_self_declared(client_as, make_user):
    from accounts.models import AffiliationSource

    make_user(username="selfie", affiliation_source=AffiliationSource.SELF)
    make_user(username="rostered", affiliation_source=AffiliationSource.ROSTER)
    page = client_as("staff").get(reverse("admin:accounts_user_changelist")).content.decode()
    row = {name: page.split(name, 1)[1].split("</tr>", 1)[0] for name in ("selfie", "rostered")}
    assert "self-declared" in row["selfie"] and ">verified<" in row["rostered"]


def test_sign_up_can_be_closed(client, settings, db):
    assert b"id_email" in client.get("/accounts/signup/").content
    settings.ACCOUNT_SIGNUP_OPEN = False
    assert b"id_email" not in client.get("/accounts/signup/").content
