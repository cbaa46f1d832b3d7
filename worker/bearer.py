"""Who may ask: one bearer-token check and one loopback test for every HTTP surface.

The api_stub's routes (``api_stub.access``), its ``/metrics`` and ``/events``, and the
worker's metrics server all decide access the same way: a listener on a loopback
address answers its own machine; anything beyond loopback answers only
``Authorization: Bearer <token>``. The token is compared in constant time, so its
length and content cannot be learnt from response times, and a check built without a
token rejects everyone (fail closed).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

ENV_TOKEN = "PALETTE_API_TOKEN"
"""The clients' token: uploads, listings, results, bars and metrics beyond loopback."""

ENV_REQUIRE = "PALETTE_API_REQUIRE_TOKEN"
"""``1``: require the token on loopback too (a shared machine, a reverse proxy)."""

BearerCheck = Callable[[str | None], bool]
"""Takes the ``Authorization`` header (or None); True when it carries the token."""


def is_loopback(address: str) -> bool:
    """True for ``localhost`` and every loopback IP (127.0.0.0/8, ``::1``, ``[::1]``).

    Anything else, a wildcard (``0.0.0.0``, ``::``) and host names included, counts as
    beyond loopback: a name can resolve anywhere.
    """
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_check(token: str | None) -> BearerCheck:
    """A constant-time check of ``Authorization: Bearer <token>``; no token rejects all."""
    expected = token.encode("utf-8") if token else None

    def check(header: str | None) -> bool:
        if expected is None or not header:
            return False
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(credentials.strip().encode("utf-8"), expected)

    return check


def truthy(value: str | None) -> bool:
    """An environment flag: ``1``, ``true``, ``yes`` or ``on`` (any case)."""
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
