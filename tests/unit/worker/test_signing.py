"""Callback signatures: our verifier, and Stripe's own library as the reference verifier."""

from __future__ import annotations

import hashlib
import hmac

import pytest
import stripe
from hypothesis import given
from hypothesis import strategies as st

from worker.signing import DEFAULT_TOLERANCE_S, SignatureError, sign, verify

SECRET = "whsec_test_0123456789abcdef"
BODY = b'{"status": "done", "source": {"key": "cats/a b.jpg"}, "name": "\xc3\xbc"}\n'
NOW = 1_800_000_000


def test_the_header_is_t_and_a_hex_hmac_of_t_dot_body() -> None:
    header = sign(SECRET, BODY, timestamp=NOW)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


@given(body=st.binary(max_size=2048), secret=st.text(min_size=1, max_size=64))
def test_what_is_signed_verifies(body: bytes, secret: str) -> None:
    assert verify(secret, body, sign(secret, body, timestamp=NOW), now=NOW) == NOW


@pytest.mark.parametrize(
    ("secret", "body", "why"),
    [
        ("another-secret", BODY, "does not match"),
        (SECRET, BODY + b" ", "does not match"),
        (SECRET, BODY.replace(b"done", b"fail"), "does not match"),
    ],
)
def test_another_secret_or_a_changed_body_is_refused(secret: str, body: bytes, why: str) -> None:
    with pytest.raises(SignatureError, match=why):
        verify(secret, body, sign(SECRET, BODY, timestamp=NOW), now=NOW)


@pytest.mark.parametrize("age", [DEFAULT_TOLERANCE_S + 1, -(DEFAULT_TOLERANCE_S + 1), 86_400])
def test_old_or_future_timestamps_are_refused(age: int) -> None:
    header = sign(SECRET, BODY, timestamp=NOW - age)
    with pytest.raises(SignatureError, match="tolerance"):
        verify(SECRET, BODY, header, now=NOW)


def test_a_replayed_signature_with_a_fresh_timestamp_is_refused() -> None:
    """The timestamp is signed: moving it forward breaks the signature."""
    old = sign(SECRET, BODY, timestamp=NOW - 3600)
    forged = old.replace(f"t={NOW - 3600}", f"t={NOW}")
    with pytest.raises(SignatureError, match="does not match"):
        verify(SECRET, BODY, forged, now=NOW)


@pytest.mark.parametrize(
    "header",
    [None, "", "garbage", "t=,v1=abc", f"t={NOW}", "v1=abcd", f"t=x{NOW},v1=ab", "t=1e9,v1=ab"],
)
def test_malformed_headers_are_refused(header: str | None) -> None:
    with pytest.raises(SignatureError):
        verify(SECRET, BODY, header, now=NOW)


def test_any_of_several_signatures_passes_during_a_secret_rotation() -> None:
    new = sign(SECRET, BODY, timestamp=NOW)
    rotated = f"{new},v1={'0' * 64},v0=ignored"
    assert verify(SECRET, BODY, rotated, now=NOW) == NOW


def test_an_empty_secret_never_verifies() -> None:
    with pytest.raises(SignatureError, match="no secret"):
        verify("", BODY, sign("", BODY, timestamp=NOW), now=NOW)


def test_stripes_own_verifier_accepts_our_header() -> None:
    """The scheme is Stripe's: its library, the reference, verifies what we sign.

    Given the body as text, as Stripe's own Webhook.construct_event passes it: verify_header
    takes bytes only from stripe 16.0 (before, it formats them as "b'...'").
    """
    header = sign(SECRET, BODY)
    text = BODY.decode()
    assert stripe.WebhookSignature.verify_header(text, header, SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(text, header, "wrong", tolerance=300)
