"""worker.bearer: the one loopback test and bearer check every HTTP surface uses."""

from __future__ import annotations

import pytest

from worker.bearer import bearer_check, is_loopback, truthy


@pytest.mark.parametrize("address", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"])
def test_loopback_addresses(address: str) -> None:
    assert is_loopback(address)


@pytest.mark.parametrize(
    "address", ["0.0.0.0", "::", "10.0.0.5", "192.168.1.2", "api.example.com", "", "[::]"]
)
def test_everything_else_is_beyond_loopback(address: str) -> None:
    """Wildcards and host names included: a name can resolve anywhere."""
    assert not is_loopback(address)


def test_the_bearer_token_opens_and_nothing_else_does() -> None:
    check = bearer_check("s3cret")
    assert check("Bearer s3cret")
    assert check("bearer s3cret ")  # the scheme is case-insensitive (RFC 7235)
    for header in (None, "", "Bearer", "Bearer ", "Bearer s3cre", "Bearer s3cretX", "Basic s3cret"):
        assert not check(header), header


@pytest.mark.parametrize("token", [None, ""])
def test_without_a_token_every_request_is_refused(token: str | None) -> None:
    check = bearer_check(token)
    assert not check("Bearer ")
    assert not check("Bearer None")
    assert not check(None)


def test_flags() -> None:
    assert all(truthy(v) for v in ("1", "true", "YES", " on "))
    assert not any(truthy(v) for v in (None, "", "0", "false", "no"))
