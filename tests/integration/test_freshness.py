"""Issue 9's race on the real stack: v1 of a key (a large PNG, slow to decode) then v2 (a
small JPEG) 0.1-0.25 s later, two worker processes. The end state must always be v2's
result, served with a 200: v1's job, finishing last, must not replace it."""

from __future__ import annotations

import io
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from infra.private_stack import private_stack
from tests.integration.helpers import http_get, wait_until
from worker.storage import s3_client

pytestmark = pytest.mark.integration

PHOTO = Path(__file__).resolve().parents[1] / "data" / "chelsea.jpg"
TRIALS = 6
SETTLE_S = 4.0
"""After v2's result shows, long enough for v1's slow job to finish and (not) write."""


@pytest.fixture(scope="module")
def two_workers() -> Iterator[tuple[Any, Any]]:
    with private_stack(workers=2, prefix="palette-fresh-") as stack:
        s3 = s3_client(stack.settings)
        try:
            yield stack, s3
        finally:
            s3.close()


def large_png() -> bytes:
    """~16 MP of noise: a few tenths of a second to decode, much longer than v2's JPEG."""
    noise = np.random.default_rng(9).integers(0, 256, (4000, 4000, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def put(s3: Any, key: str, data: bytes, content_type: str) -> str:
    response = s3.put_object(Bucket="images", Key=key, Body=data, ContentType=content_type)
    return str(response["ETag"]).strip('"')


def test_the_newest_version_always_wins(two_workers: tuple[Any, Any]) -> None:
    stack, s3 = two_workers
    v1, v2 = large_png(), PHOTO.read_bytes()
    outcomes = []
    for trial in range(TRIALS):
        key = f"race/{uuid.uuid4().hex[:8]}-{trial}.img"
        put(s3, key, v1, "image/png")
        time.sleep(random.uniform(0.1, 0.25))
        etag2 = put(s3, key, v2, "image/jpeg")
        url = f"{stack.settings.api_url}/palettes/{key}"
        assert wait_until(lambda url=url: http_get(url)[0] == 200, timeout=60), key
        time.sleep(SETTLE_S)
        status, doc = http_get(url)
        outcomes.append((status, doc.get("source", {}).get("etag") == etag2))
    assert outcomes == [(200, True)] * TRIALS
