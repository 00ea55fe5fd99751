"""The one `next` rule: only a path on this site is followed."""

import pytest
from django.test import RequestFactory

from core.redirects import next_path, redirect_next

OFF_SITE = [
    "https://evil.example/x",
    "http://evil.example/x",
    "//evil.example/x",
    "/\\evil.example/x",
    "\\\\evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "\x01/evil.example",
    "evil.example",
    "https://testserver/x",  # even this host: a path only
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_off_site_targets_are_not_followed(target):
    request = RequestFactory().post("/here/", {"next": target})
    assert next_path(request) is None


@pytest.mark.parametrize("target", ["/entries/3/", "/projects/groups/2/score/?x=1#y"])
def test_same_site_paths_are_followed(target):
    assert next_path(RequestFactory().post("/here/", {"next": target})) == target
    assert next_path(RequestFactory().get("/here/", {"next": target})) == target


def test_redirect_next_falls_back_to_the_named_url():
    request = RequestFactory().post("/here/", {"next": "https://evil.example/"})
    assert redirect_next(request, "staff-queue").url == "/staff/queue/"
