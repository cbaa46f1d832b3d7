"""Signed completion callbacks on the real stack (issue 12, item 5).

The session's stack runs with ``PALETTE_CALLBACK_URL`` pointing at a real HTTP receiver
(``tests/integration/receiver.py``, which verifies every signature) and so with its
callback worker (``palette worker --callbacks``) beside the palette worker.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from tests.integration.helpers import upload, wait_for_result
from tests.integration.receiver import CallbackReceiver

pytestmark = pytest.mark.integration


def png(rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (12, 12), rgb).save(out, "PNG")
    return out.getvalue()


def stored_bytes(stack: Any, key: str) -> bytes:
    return bytes(stack.s3.get_object(Bucket="palettes", Key=key + ".json")["Body"].read())


def test_a_done_result_is_posted_signed_as_stored(stack: Any, callbacks: CallbackReceiver) -> None:
    key = "callbacks/done ü.png"
    etag = upload(stack.s3, key, png((1, 2, 250)), "image/png")
    doc = wait_for_result(stack.s3, key, etag)
    [delivery] = callbacks.wait_for(key)
    assert delivery.body == stored_bytes(stack, key)  # the very bytes stored
    assert json.loads(delivery.body)["created_at"] == doc["created_at"]
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["palette-signature"].startswith("t=")
    assert len(delivery.headers["palette-delivery"]) == 32
    assert callbacks.refused == 0


def test_a_failed_result_is_posted_too(stack: Any, callbacks: CallbackReceiver) -> None:
    key = "callbacks/not-an-image.png"
    etag = upload(stack.s3, key, b"no image here", "image/png")
    assert wait_for_result(stack.s3, key, etag)["status"] == "failed"
    [delivery] = callbacks.wait_for(key)
    assert json.loads(delivery.body)["error"]["code"] == "not_an_image"


def test_a_receiver_that_is_down_gets_it_later_and_the_palette_does_not_wait(
    stack: Any, callbacks: CallbackReceiver
) -> None:
    """Three 503s: the result is stored at once; the callback comes on the retries
    (backoff 0-2, 0-4, 0-8 s with full jitter), once, with one delivery id."""
    key = "callbacks/receiver-down.png"
    callbacks.fail_first[key] = 3
    etag = upload(stack.s3, key, png((250, 2, 1)), "image/png")
    doc = wait_for_result(stack.s3, key, etag)
    assert key not in callbacks.deliveries or not callbacks.deliveries[key]
    [delivery] = callbacks.wait_for(key, timeout=60)
    assert callbacks.attempts[key] == 4
    assert json.loads(delivery.body)["created_at"] == doc["created_at"]
