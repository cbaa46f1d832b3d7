"""Signed completion callbacks: the header the worker sends, and the check a receiver runs.

The scheme is the one Stripe's webhooks use, so existing verifiers accept it::

    Palette-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>

The timestamp is signed with the body, so a captured request cannot be replayed later
than ``tolerance`` seconds; a receiver may list several ``v1=`` values while it rotates
secrets (any match passes). This module imports nothing but the standard library: a
receiving app can ``from worker.signing import verify`` or copy it whole.

Usage in a receiver (any framework; ``body`` must be the raw bytes, not re-encoded JSON)::

    from worker.signing import SignatureError, verify

    try:
        verify(secret, body, request.headers["Palette-Signature"])
    except SignatureError:
        return 400
"""

from __future__ import annotations

import hashlib
import hmac
import time

HEADER = "Palette-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300
"""Five minutes, as Stripe: room for clock skew and a slow delivery, not for replays."""


class SignatureError(ValueError):
    """The header is missing, malformed, signed with another secret, or too old."""


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The ``Palette-Signature`` value for ``body``, signed now (or at ``timestamp``)."""
    moment = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={moment},{SCHEME}={_digest(secret, moment, body)}"


def verify(
    secret: str,
    body: bytes,
    header: str | None,
    tolerance: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check ``header`` against ``body``; returns its timestamp, raises ``SignatureError``.

    ``tolerance`` bounds how old (or how far in the future) the timestamp may be;
    0 or less turns the age check off (do not, outside tests).
    """
    if not secret:
        raise SignatureError("no secret to verify with")
    timestamp, signatures = _parse(header)
    expected = _digest(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in signatures):
        raise SignatureError("signature does not match the body and secret")
    clock = time.time() if now is None else now
    if tolerance > 0 and abs(clock - timestamp) > tolerance:
        raise SignatureError(f"timestamp {timestamp} is outside the {tolerance:g} s tolerance")
    return timestamp


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def _parse(header: str | None) -> tuple[int, list[str]]:
    """(timestamp, [v1 signatures]) from ``t=…,v1=…[,v1=…]``; unknown schemes are skipped."""
    if not header:
        raise SignatureError(f"no {HEADER} header")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t" and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == SCHEME:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError(f"{HEADER} has no valid t= timestamp")
    if not signatures:
        raise SignatureError(f"{HEADER} has no {SCHEME}= signature")
    return timestamp, signatures
