"""Options per upload: ``x-amz-meta-palette-k`` on the object, read by the worker from
its own GET, on the real stack (SeaweedFS events, Redis, Celery, the api_stub)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.helpers import http_get, wait_for_result
from tests.integration.test_cli import palette

pytestmark = pytest.mark.integration

PHOTO = Path(__file__).resolve().parents[1] / "data" / "chelsea.jpg"


def put(stack: Any, key: str, k: str | None, data: bytes | None = None) -> str:
    """Upload as a web app's backend does: boto3, the option as user metadata."""
    metadata = {} if k is None else {"palette-k": k}
    response = stack.s3.put_object(
        Bucket="images",
        Key=key,
        Body=data if data is not None else PHOTO.read_bytes(),
        ContentType="image/jpeg",
        Metadata=metadata,
    )
    return str(response["ETag"]).strip('"')


def unique(name: str) -> str:
    return f"options/{uuid.uuid4().hex[:8]}/{name}"


def test_the_upload_chooses_k(stack: Any) -> None:
    key = unique("three.jpg")
    doc = wait_for_result(stack.s3, key, put(stack, key, "3"))
    assert doc["status"] == "done", doc
    assert (doc["options"]["k"], len(doc["colors"])) == (3, 3)
    assert doc["source"]["metadata"] == {"palette-k": "3"}


def test_the_upload_asks_for_auto(stack: Any) -> None:
    key = unique("auto.jpg")
    doc = wait_for_result(stack.s3, key, put(stack, key, "auto"))
    assert doc["quality"]["k_requested"] == doc["options"]["k"] == "auto"
    assert doc["quality"]["k_returned"] == len(doc["colors"]) >= 1


def test_an_invalid_k_ends_in_a_failed_result_the_api_serves(stack: Any) -> None:
    key = unique("bad-k.jpg")
    doc = wait_for_result(stack.s3, key, put(stack, key, "many"))
    assert doc["status"] == "failed"
    assert doc["error"] == {
        "code": "invalid_options",
        "message": "x-amz-meta-palette-k: k must be an integer 1-32 or 'auto' (got 'many')",
        "retryable": False,
        "attempts": 1,
    }
    status, served = http_get(f"{stack.api_url}/palettes/{key}")
    assert (status, served["error"]["code"]) == (200, "invalid_options")


def test_the_same_bytes_again_with_another_k_get_a_new_result(stack: Any) -> None:
    """Identical bytes keep their ETag: the options are what makes the old result stale."""
    key = unique("again.jpg")
    etag = put(stack, key, "2")
    first = wait_for_result(stack.s3, key, etag)
    assert put(stack, key, "4") == etag
    second = wait_until_k(stack, key, 4)
    assert (len(first["colors"]), len(second["colors"])) == (2, 4)


def wait_until_k(stack: Any, key: str, k: int) -> dict[str, Any]:
    from tests.integration.helpers import wait_until

    found: dict[str, Any] = {}

    def done() -> bool:
        doc = wait_for_result(stack.s3, key)
        found.update(doc)
        return bool(doc["options"].get("k") == k)

    assert wait_until(done, timeout=45), found
    return found


def test_submit_k_sets_the_option_and_waits_for_its_result(stack: Any) -> None:
    prefix = unique("")
    first = palette(stack, "submit", "-k", "2", "--prefix", prefix, "--format", "json", str(PHOTO))
    again = palette(
        stack, "submit", "-k", "auto", "--prefix", prefix, "--format", "json", str(PHOTO)
    )
    assert (first.returncode, again.returncode) == (0, 0), again.stderr
    [one], [other] = json.loads(first.stdout), json.loads(again.stdout)
    assert (one["options"]["k"], len(one["colors"])) == (2, 2)
    assert other["options"]["k"] == "auto"  # the same bytes: not the k=2 result again
    head = stack.s3.head_object(Bucket="images", Key=prefix + PHOTO.name)
    assert head["Metadata"] == {"palette-k": "auto"}


def test_submit_refuses_an_invalid_k_before_uploading(stack: Any) -> None:
    prefix = unique("")
    run = palette(stack, "submit", "-k", "0", "--prefix", prefix, str(PHOTO))
    assert run.returncode == 2
    assert "k must be an integer 1-32 or 'auto' (got '0')" in run.stderr
    listed = stack.s3.list_objects_v2(Bucket="images", Prefix=prefix)
    assert listed.get("KeyCount", 0) == 0


@contextlib.contextmanager
def worker_stopped(stack: Any) -> Iterator[None]:
    """SIGSTOP the stack's worker (its process group, pool children too) for the block."""
    proc = stack.proc("worker")
    assert proc is not None
    group = os.getpgid(proc.pid)
    assert group != os.getpgrp(), "the worker shares our process group"
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def test_the_api_serves_the_old_k_result_as_pending_until_it_is_redone(stack: Any) -> None:
    """Same bytes, new ``palette-k``: the ETag is unchanged, but the stored result was
    made for the old k, so the API answers 202 (also to a long-poll) until the worker has
    redone it, then 200 with the new k: never the stale palette."""
    key = unique("rechosen.jpg")
    url = f"{stack.api_url}/palettes/{key}"
    etag = put(stack, key, "2")
    first = long_poll(url)
    assert first["quality"]["k_requested"] == 2
    with worker_stopped(stack):
        assert put(stack, key, "4") == etag
        assert http_get(url)[0] == 202
        assert http_get(url + "?wait=2")[0] == 202
        assert wait_for_result(stack.s3, key, etag)["quality"]["k_requested"] == 2  # still stored
    second = long_poll(url)
    assert (second["quality"]["k_requested"], len(second["colors"])) == (4, 4)


def long_poll(url: str, timeout: float = 90.0) -> dict[str, Any]:
    """``?wait=25`` until the answer is 200, as the page does; the document."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=40) as http:
        while time.monotonic() < deadline:
            response = http.get(url, params={"wait": "25"})
            if response.status_code == 200:
                return dict(response.json())
            assert response.status_code == 202, response.text
    raise AssertionError(f"no result within {timeout} s")
