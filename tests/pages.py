"""Helpers for browser tests (the `page` fixture lives in tests/platform/conftest.py)."""


def browser_login(page, username: str, password: str = "pw-for-tests-1") -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", username)  # allauth's field: a username or an email
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()
