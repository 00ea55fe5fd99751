import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken, hash_token


def _api_with_key(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_created_token_authenticates_until_revoked(student):
    token, key = services.token_create(user=student, name="colab")
    assert token.key_hash == hash_token(key)
    assert key not in {token.key_hash, token.prefix}
    response = _api_with_key(key).get("/api/me/")
    assert response.status_code == 200
    assert response.json()["username"] == "stu"
    token.refresh_from_db()
    assert token.last_used_at is not None

    services.token_revoke(user=student, token_id=token.pk)
    assert _api_with_key(key).get("/api/me/").status_code == 401


def test_bearer_keyword_works_and_garbage_is_refused(student):
    _, key = services.token_create(user=student, name="nb")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert client.get("/api/me/").status_code == 200
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get("/api/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token a b")
    assert client.get("/api/me/").status_code == 401
    assert APIClient().get("/api/me/").status_code in (401, 403)


def test_page_shows_key_once_and_revokes(client_as, student):
    client = client_as("student")
    response = client.post(reverse("tokens"), {"name": "laptop"})
    key = response.context["new_key"]
    assert key and key in response.content.decode()
    again = client.get(reverse("tokens"))
    assert key not in again.content.decode()
    token = ApiToken.objects.get(user=student)
    client.post(reverse("token-revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_student_cannot_revoke_someone_elses_token(client_as, api_as, student, other_student):
    token, key = services.token_create(user=other_student, name="theirs")
    client_as("student").post(reverse("token-revoke", args=[token.pk]))
    assert api_as("student").delete(f"/api/tokens/{token.pk}/").status_code == 404
    token.refresh_from_db()
    assert token.is_active
    assert _api_with_key(key).get("/api/me/").json()["username"] == "stu2"


def test_token_api_create_list_revoke(api_as, student):
    api = api_as("student")
    created = api.post("/api/tokens/", {"name": "colab"}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(body["prefix"])
    listed = api.get("/api/tokens/").json()
    assert [t["name"] for t in listed] == ["colab"]
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    assert api.delete(f"/api/tokens/{body['id']}/").status_code == 204
    assert _api_with_key(body["key"]).get("/api/me/").status_code == 401


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, 7, ["a"], None])
def test_token_api_refuses_bad_names(api_as, student, name):
    response = api_as("student").post("/api/tokens/", {"name": name}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"]
    assert not ApiToken.objects.exists()


def test_active_token_limit(student):
    for i in range(services.MAX_ACTIVE_TOKENS):
        services.token_create(user=student, name=f"t{i}")
    with pytest.raises(services.TokenError, match="revoke one"):
        services.token_create(user=student, name="one too many")


def test_anonymous_cannot_use_token_api(api_as):
    assert api_as("anonymous").post("/api/tokens/", {"name": "x"}).status_code in (401, 403)


def test_token_create_with_a_non_object_body_is_a_clear_400(api_as):
    # Found by the schema fuzzer: a JSON list body used to crash the view (500).
    response = api_as("student").post("/api/tokens/", [None, None], format="json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


def test_a_token_never_mints_lists_or_revokes_tokens(student):
    """A leaked notebook token must not outlive its revocation by minting another (issue 23):
    tokens are managed only from a session login."""
    token, key = services.token_create(user=student, name="colab")
    api = _api_with_key(key)
    minted = api.post("/api/tokens/", {"name": "spare"}, format="json")
    assert minted.status_code == 403
    assert "logged in to the site" in minted.json()["detail"]
    assert api.get("/api/tokens/").status_code == 403
    assert api.delete(f"/api/tokens/{token.pk}/").status_code == 403
    assert list(ApiToken.objects.filter(user=student)) == [token] and token.is_active
    # Revoking the leaked token (from the site) leaves nothing that still works.
    services.token_revoke(user=student, token_id=token.pk)
    assert _api_with_key(key).get("/api/me/").status_code == 401
    assert not ApiToken.objects.filter(user=student, revoked_at__isnull=True).exists()
    # Uploads and reads keep working with a token: only token management needs the session.
    _, other = services.token_create(user=student, name="nb")
    assert _api_with_key(other).get("/api/me/").status_code == 200
