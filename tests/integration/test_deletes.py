"""Deleting an image deletes its results (issue 12, item 6), on the real stack.

SeaweedFS sends a ``delete`` filer event for the image, the api_stub enqueues a
``palette.remove`` job, and the worker deletes ``<key>.json`` and ``<key>.png``; the API
then answers 404. A delete followed at once by a re-upload of the same key ends with
the new image's result.
"""

from __future__ import annotations

import io
import urllib.parse
from typing import Any

import pytest
from PIL import Image

from tests.integration.helpers import exists, http_get, upload, wait_for_result, wait_until

pytestmark = pytest.mark.integration

GONE_WITHIN_S = 30.0
"""Event, queue and two deletes: well under a second when the machine is quiet."""


def png(rgb: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), rgb).save(out, "PNG")
    return out.getvalue()


def api(stack: Any, key: str) -> tuple[int, dict[str, Any]]:
    return http_get(f"{stack.api_url}/palettes/{urllib.parse.quote(key)}")


def results_gone(stack: Any, key: str) -> bool:
    return not exists(stack.s3, "palettes", key + ".json") and not exists(
        stack.s3, "palettes", key + ".png"
    )


def test_a_deleted_image_loses_its_json_and_png_and_the_api_says_404(stack: Any) -> None:
    key = "deletes/gone soon ü+.png"
    etag = upload(stack.s3, key, png((200, 30, 30)), "image/png")
    assert wait_for_result(stack.s3, key, etag)["status"] == "done"
    assert exists(stack.s3, "palettes", key + ".png")
    assert api(stack, key)[0] == 200

    stack.s3.delete_object(Bucket="images", Key=key)

    assert wait_until(lambda: results_gone(stack, key), timeout=GONE_WITHIN_S)
    status, body = api(stack, key)
    assert (status, body["status"]) == (404, "not_found")


def test_a_failed_result_goes_with_its_image_too(stack: Any) -> None:
    key = "deletes/not-an-image.png"
    etag = upload(stack.s3, key, b"plain text", "image/png")
    assert wait_for_result(stack.s3, key, etag)["status"] == "failed"
    stack.s3.delete_object(Bucket="images", Key=key)
    assert wait_until(lambda: results_gone(stack, key), timeout=GONE_WITHIN_S)


def test_delete_then_reupload_ends_with_the_new_images_result(stack: Any) -> None:
    key = "deletes/again.png"
    old = upload(stack.s3, key, png((10, 200, 10)), "image/png")
    assert wait_for_result(stack.s3, key, old)["colors"][0]["hex"] == "#0ac80a"

    stack.s3.delete_object(Bucket="images", Key=key)
    new = upload(stack.s3, key, png((10, 10, 200)), "image/png")

    doc = wait_for_result(stack.s3, key, new)
    assert doc["colors"][0]["hex"] == "#0a0ac8"
    # the removal has run (or found the image back) by now or soon: the new result stays
    assert not wait_until(lambda: not exists(stack.s3, "palettes", key + ".json"), timeout=3)
    status, body = api(stack, key)
    assert (status, body["source"]["etag"]) == (200, new)
