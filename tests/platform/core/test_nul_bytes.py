"""A NUL byte in an address or a query parameter is a clear 400, never a server error:
PostgreSQL refuses it in any text field (schemathesis found `?edition=a%00` as a 500)."""

import pytest

pytestmark = pytest.mark.django_db

ADDRESSES = [
    "/api/labs/lab2-mnist/leaderboard/?edition=a%00b",
    "/api/labs/lab2-mnist/leaderboard/?split=public&page%00=1",
    "/api/labs/lab%00/leaderboard/",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_the_api_refuses_a_nul_byte_with_a_reason(address, mnist, api_as):
    response = api_as("student").get(address)
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]


@pytest.mark.parametrize("address", ["/?x=%00", "/labs/%00/"])
def test_a_page_refuses_a_nul_byte_with_the_error_page(address, client_as):
    response = client_as("student").get(address)
    assert response.status_code == 400
    assert "NUL character is not allowed" in response.content.decode()


def test_a_login_with_a_nul_byte_is_refused_not_a_server_error(client):
    response = client.post("/accounts/login/", {"login": "stu\x00dent", "password": "x"})
    assert response.status_code == 400
    assert "NUL character is not allowed" in response.content.decode()


def test_a_session_cookie_with_a_nul_byte_is_ignored(client):
    client.cookies["sessionid"] = "abcdefghij\x00klmnop"
    response = client.get("/")
    assert response.status_code == 200  # as without a session


def test_a_json_field_with_a_nul_byte_is_refused_not_a_server_error(api_as):
    response = api_as("student").post("/api/tokens/", {"name": "t\x00k"}, format="json")
    assert response.status_code == 400
    assert "NUL" in response.json()["detail"]
