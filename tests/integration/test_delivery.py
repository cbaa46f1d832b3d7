"""Delivery rules on the real stack: attempt counting in Redis, duplicate events."""

from __future__ import annotations

import hashlib
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.integration.helpers import upload, wait_for_result
from worker.jobs import Job
from worker.ledger import ATTEMPTS_PREFIX, Ledger
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
    event = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"images/{key}",
        "Records": [
            {
                "eventName": "s3:ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": "images"},
                    "object": {"key": "delivery/dup.jpg", "eTag": etag, "size": 1},
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
    # the redelivered job sees a result for this ETag and skips: created_at is unchanged
    import time

    time.sleep(2.0)
    again = wait_for_result(stack.s3, key, etag)
    assert again["created_at"] == first["created_at"]


def test_the_ledger_counts_and_dead_letters(stack: Any) -> None:
    client = redis.Redis.from_url(stack.settings.broker_url)
    ledger = Ledger(client)
    try:
        assert ledger.start_attempt("ledger-test") == 1
        assert ledger.start_attempt("ledger-test") == 2
        ledger.finish("ledger-test")
        assert ledger.start_attempt("ledger-test") == 1
        before = ledger.dead_letter_count()
        ledger.dead_letter({"bucket": "images", "key": "x"}, "storage_unavailable")
        assert ledger.dead_letter_count() == before + 1
        assert ledger.dead_letters(1)[0]["reason"] == "storage_unavailable"
    finally:
        ledger.finish("ledger-test")
        client.lpop("palette:dead")
        client.close()
