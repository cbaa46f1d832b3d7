"""``palette dead-letters list|replay|purge`` on the real stack (issue 9 item 4).

A real dead letter: the registered task, run in-process against S3 settings pointing at
a port nobody listens on, with the stack's Redis as its ledger, retries and gives up
with ``storage_unavailable`` (as in test_faults). Once "the outage is over", ``replay``
hands the job to the stack's worker, which makes the image's result.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from PIL import Image

from tests.helpers import run_palette
from tests.integration.helpers import upload, wait_for_result
from worker import tasks
from worker.celery_app import make_celery
from worker.jobs import Job
from worker.storage.s3 import S3Storage

pytestmark = pytest.mark.integration


def png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def dead_letter_for(stack: Any, key: str, colour: tuple[int, int, int]) -> str:
    """Upload an image, drop its result, and dead-letter its job through a storage
    outage; returns its ETag."""
    etag = upload(stack.s3, key, png(colour), "image/png")
    wait_for_result(stack.s3, key, etag)
    for suffix in (".json", ".png"):
        stack.s3.delete_object(Bucket="palettes", Key=key + suffix)
    down = stack.settings.with_overrides(s3_endpoint="http://127.0.0.1:9", s3_timeout=1.0)
    task = tasks.register(make_celery(stack.settings), stack.settings, lambda: S3Storage(down))
    job = Job("images", key, etag)
    outcome = task.apply(kwargs={"job": job.to_message()}, task_id=job.id).result
    assert outcome["reason"] == "storage_unavailable"
    return etag


def palette(stack: Any, *args: str) -> str:
    run = run_palette("dead-letters", *args, env=stack.env)
    assert run.returncode == 0, run.stderr
    return run.stdout


def listed(stack: Any) -> dict[str, str]:
    """key -> reason of every palette job in the list."""
    rows = json.loads(palette(stack, "list", "--format", "json"))
    return {row["job"]["key"]: row["reason"] for row in rows if row["job"]}


def test_list_then_replay_makes_the_result(stack: Any) -> None:
    key = "dead/replayed.png"
    etag = dead_letter_for(stack, key, (200, 100, 0))
    assert listed(stack)[key] == "storage_unavailable"
    assert key in palette(stack, "list")  # the table an operator reads
    assert "replayed" in palette(stack, "replay", "--reason", "storage_unavailable")
    doc = wait_for_result(stack.s3, key, etag, timeout=60)
    assert doc["status"] == "done"
    assert key not in listed(stack)


def test_purge_by_reason_deletes_only_those(stack: Any) -> None:
    key = "dead/purged.png"
    dead_letter_for(stack, key, (0, 100, 200))
    assert listed(stack)[key] == "storage_unavailable"
    assert "purged 0" in palette(stack, "purge", "--reason", "no_such_reason", "--yes")
    assert key in listed(stack)
    assert "purged" in palette(stack, "purge", "--reason", "storage_unavailable", "--yes")
    assert key not in listed(stack)
