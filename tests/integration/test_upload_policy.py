"""The presigned POST policy from ``POST /uploads`` is enforced by the real SeaweedFS.

What the page relies on: an upload over ``PALETTE_MAX_BYTES``, of a non-image type, or to
another key than the one signed is refused by the store itself and stores nothing; the
signed upload is stored byte for byte with its type.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from api_stub.web import UPLOAD_EXPIRES_S, PostPolicy, S3Presigner
from tests.integration.helpers import exists

pytestmark = pytest.mark.integration


def _policy(stack: Any, key: str, metadata: dict[str, str] | None = None) -> PostPolicy:
    """What ``POST /uploads`` hands the page for ``key`` (and the k the page chose)."""
    settings = stack.settings
    return S3Presigner(settings).presigned_post(
        settings.input_bucket, key, "image/png", settings.max_bytes, UPLOAD_EXPIRES_S, metadata
    )


def _post(policy: PostPolicy, data: bytes, **override: str) -> httpx.Response:
    fields = {**policy.fields, **override}
    return httpx.post(policy.url, data=fields, files={"file": ("a.png", data)}, timeout=30)


def _key() -> str:
    return f"uploads/{uuid.uuid4().hex}/a.png"


def test_the_signed_upload_is_stored(stack: Any) -> None:
    key = _key()
    data = b"\x89PNG not really, but the store does not look" * 10
    response = _post(_policy(stack, key), data)
    assert response.status_code in {200, 201, 204}, response.text
    head = stack.s3.head_object(Bucket=stack.settings.input_bucket, Key=key)
    assert head["ContentLength"] == len(data)
    assert head["ContentType"] == "image/png"


def test_an_upload_over_the_byte_limit_is_refused(stack: Any) -> None:
    key = _key()
    response = _post(_policy(stack, key), b"x" * (stack.settings.max_bytes + 1))
    assert response.status_code == 400, response.text
    assert "EntityTooLarge" in response.text
    assert not exists(stack.s3, stack.settings.input_bucket, key)


def test_a_non_image_type_is_refused(stack: Any) -> None:
    key = _key()
    response = _post(_policy(stack, key), b"<html>", **{"Content-Type": "text/html"})
    assert response.status_code == 403, response.text
    assert not exists(stack.s3, stack.settings.input_bucket, key)


def test_another_key_than_the_signed_one_is_refused(stack: Any) -> None:
    key, other = _key(), _key()
    response = _post(_policy(stack, key), b"png", key=other)
    assert response.status_code == 403, response.text
    assert not exists(stack.s3, stack.settings.input_bucket, other)
    assert not exists(stack.s3, stack.settings.input_bucket, key)


def test_the_signed_k_is_stored_as_user_metadata(stack: Any) -> None:
    """The page's k chooser: the policy's ``x-amz-meta-palette-k`` field reaches the
    object as user metadata, which the worker reads."""
    key = _key()
    response = _post(_policy(stack, key, {"palette-k": "auto"}), b"png")
    assert response.status_code in {200, 201, 204}, response.text
    head = stack.s3.head_object(Bucket=stack.settings.input_bucket, Key=key)
    assert head["Metadata"] == {"palette-k": "auto"}


def test_another_k_than_the_signed_one_is_refused(stack: Any) -> None:
    key = _key()
    policy = _policy(stack, key, {"palette-k": "3"})
    response = _post(policy, b"png", **{"x-amz-meta-palette-k": "32"})
    assert response.status_code == 403, response.text
    assert not exists(stack.s3, stack.settings.input_bucket, key)


def test_metadata_the_policy_does_not_name_is_refused(stack: Any) -> None:
    key = _key()
    response = _post(_policy(stack, key), b"png", **{"x-amz-meta-palette-k": "32"})
    assert response.status_code == 403, response.text
    assert not exists(stack.s3, stack.settings.input_bucket, key)
