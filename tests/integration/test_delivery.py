"""Delivery rules on the real stack: attempt counting in Redis, duplicate events."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import redis

from benchmarks.s3_requests import request_counts
from infra.seaweed import metrics_url
from infra.state import load
from tests.integration.helpers import upload, wait_for_result
from worker.jobs import Job
from worker.ledger import ATTEMPTS_PREFIX, FINISHED_PREFIX, FINISHED_TTL_S, Ledger
from worker.tasks import MAX_DELIVERIES

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"


def test_an_image_that_keeps_killing_its_worker_ends_as_worker_lost(stack: Any) -> None:
    """Pretend the job already started MAX_DELIVERIES times (each one killing its worker)."""
    data = (DATA / "chelsea.jpg").read_bytes()
    key = "delivery/killer.jpg"
    job = Job("images", key, hashlib.md5(data, usedforsecurity=False).hexdigest())
    client = redis.Redis.from_url(stack.settings.broker_url)
    client.set(ATTEMPTS_PREFIX + job.id, MAX_DELIVERIES)
    try:
        upload(stack.s3, key, data)
        doc = wait_for_result(stack.s3, key)
        assert doc["status"] == "failed"
        assert doc["error"]["code"] == "worker_lost"
        assert client.get(ATTEMPTS_PREFIX + job.id) is None  # the counter is cleaned up
    finally:
        client.delete(ATTEMPTS_PREFIX + job.id)
        client.close()


def test_a_duplicate_event_does_not_redo_the_work(stack: Any) -> None:
    key = "delivery/dup.jpg"
    etag = upload(stack.s3, key, (DATA / "chelsea.jpg").read_bytes())
    first = wait_for_result(stack.s3, key, etag)
    _post_event(stack, key, etag)
    # the redelivered job sees a result for this ETag and skips: created_at is unchanged
    time.sleep(2.0)
    again = wait_for_result(stack.s3, key, etag)
    assert again["created_at"] == first["created_at"]


def _post_event(stack: Any, key: str, etag: str) -> None:
    """The api_stub's webhook, as SeaweedFS calls it: a duplicate of the upload's event."""
    event = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"images/{key}",
        "Records": [
            {
                "eventName": "s3:ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "images"},
                    "object": {"key": key, "eTag": etag, "size": 1},
                },
            }
        ],
    }
    request = urllib.request.Request(
        f"{stack.api_url}/events",
        data=json.dumps(event).encode(),
        headers={
            "Authorization": f"Bearer {stack.env['PALETTE_WEBHOOK_TOKEN']}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_the_ledger_counts_and_dead_letters(stack: Any) -> None:
    client = redis.Redis.from_url(stack.settings.broker_url)
    ledger = Ledger(client)
    try:
        assert ledger.start_attempt("ledger-test") == 1
        assert ledger.start_attempt("ledger-test") == 2
        assert ledger.begin("ledger-test").seen  # started before: may be a duplicate
        ledger.finish("ledger-test")
        assert client.get(ATTEMPTS_PREFIX + "ledger-test") is None
        assert 0 < client.ttl(FINISHED_PREFIX + "ledger-test") <= FINISHED_TTL_S
        assert ledger.begin("ledger-test") == (1, True)  # finished before: still seen
        client.delete(FINISHED_PREFIX + "ledger-fresh")
        assert ledger.begin("ledger-fresh") == (1, False)  # never seen: no result read
        before = ledger.dead_letter_count()
        ledger.dead_letter({"bucket": "images", "key": "x"}, "storage_unavailable")
        assert ledger.dead_letter_count() == before + 1
        assert ledger.dead_letters(1)[0]["reason"] == "storage_unavailable"
    finally:
        ledger.finish("ledger-test")
        client.delete(ATTEMPTS_PREFIX + "ledger-fresh", FINISHED_PREFIX + "ledger-fresh")
        client.lpop("palette:dead")
        client.close()


def _palettes(stack: Any) -> Counter[str]:
    """S3 requests to the results bucket by type, as SeaweedFS counted them (HEAD is GET)."""
    state = load(stack.stack_dir)
    url = metrics_url(state.ports) if state else None
    assert url is not None, "this stack exposes no SeaweedFS metrics"
    counts: Counter[str] = Counter()
    for (bucket, kind, _), n in request_counts(url).items():
        counts[kind] += n if bucket == "palettes" else 0
    return counts


def _listed(stack: Any, key: str, timeout: float = 60.0) -> None:
    """Wait for the JSON by listing (LIST), so the test itself makes no GET on the bucket."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = stack.s3.list_objects_v2(Bucket="palettes", Prefix=key + ".json")
        if found.get("KeyCount"):
            return
        time.sleep(0.1)
    raise AssertionError(f"no result for {key} after {timeout} s")


def test_a_first_job_reads_no_result_and_its_duplicate_writes_nothing(stack: Any) -> None:
    """Counted by SeaweedFS: a new image's job never GETs the results bucket; a duplicate
    event after it finished reads the result (the ledger's finished marker) and skips."""
    key = "delivery/first.jpg"
    before = _palettes(stack)
    etag = upload(stack.s3, key, (DATA / "chelsea.jpg").read_bytes())
    _listed(stack, key)
    time.sleep(0.5)  # the JSON is the last write; nothing of this job may follow it
    first = _palettes(stack) - before
    assert first["GET"] == 0  # no check
    assert first["PUT"] == 2  # the bar and the JSON
    _post_event(stack, key, etag)
    deadline = time.monotonic() + 60
    while (_palettes(stack) - before)["GET"] == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.0)
    after = _palettes(stack) - before
    assert after["GET"] == 1  # the duplicate's check
    assert after["PUT"] == 2  # and nothing written
