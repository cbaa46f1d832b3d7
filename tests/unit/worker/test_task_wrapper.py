"""The Celery wrapper around ``process``, run in-process (``apply``) with no services:
the ledger points at a port where no Redis listens, which it must survive."""

import io
import json
from typing import Any

import pytest
from PIL import Image

from worker import tasks
from worker.celery_app import make_celery
from worker.config import Settings
from worker.jobs import Job
from worker.storage import MemoryStorage, ObjectInfo

NO_REDIS = "redis://127.0.0.1:9/0"


class BuggyStorage(MemoryStorage):
    """A download that hits a bug (not a storage error): an unexpected exception."""

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        """The download the worker makes (``fetch``: bytes and version in one request);
        results still read as stored."""
        if bucket == "palettes":
            return super().fetch(bucket, key, max_bytes)
        raise ZeroDivisionError("a bug")


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (9, 90, 200)).save(out, "PNG")
    return out.getvalue()


def run(storage: MemoryStorage, key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = Settings.from_env({"PALETTE_BROKER_URL": NO_REDIS})
    task = tasks.register(make_celery(settings), settings, lambda: storage)
    job = Job("images", key)
    outcome = task.apply(kwargs={"job": job.to_message()}, task_id=job.id).result
    return outcome, json.loads(storage.objects[("palettes", key + ".json")][0])


@pytest.fixture
def storage() -> MemoryStorage:
    return MemoryStorage()


def test_a_job_completes_while_redis_is_away(storage: MemoryStorage) -> None:
    """Attempt counting is best effort: a broker blip must not fail the running jobs."""
    storage.put("images", "a.png", png(), "image/png")
    outcome, doc = run(storage, "a.png")
    assert outcome["status"] == "done"
    assert [c["hex"] for c in doc["colors"]] == ["#095ac8"]


def test_an_unexpected_error_still_ends_in_a_failed_result() -> None:
    """A bug must neither kill the worker, loop, nor leave the upload without a result."""
    storage = BuggyStorage()
    storage.put("images", "bug.png", png(), "image/png")
    outcome, doc = run(storage, "bug.png")
    assert (outcome["status"], outcome["reason"]) == ("failed", "internal_error")
    assert (doc["status"], doc["error"]["code"]) == ("failed", "internal_error")
    assert doc["colors"] == []


def test_the_ledger_translates_redis_errors() -> None:
    from worker.errors import BrokerUnavailable
    from worker.ledger import Ledger

    ledger = Ledger.from_url(NO_REDIS)
    with pytest.raises(BrokerUnavailable):
        ledger.start_attempt("x")
    with pytest.raises(BrokerUnavailable):
        ledger.dead_letter({"key": "x"}, "storage_unavailable")


@pytest.mark.parametrize(
    "key", ["/a.png", "x//a.png", "x/../a.png", "./a.png", "a.png/", "a\x00.png", "", "é" * 600]
)
def test_a_key_that_names_another_object_is_never_read_or_written(key: str) -> None:
    """SeaweedFS resolves these paths: "/a.png" IS "a.png", whose result must not change."""
    storage = MemoryStorage()
    storage.put("images", key, png(), "image/png")
    outcome = tasks.process(Job("images", key), storage, Settings.from_env({}))
    assert (outcome.status, outcome.reason) == ("skipped", "unsafe_key")
    assert not [k for b, k in storage.objects if b == "palettes"]


class CutShortStorage(MemoryStorage):
    """A download the soft time limit interrupts inside boto3, whose adapter translates
    every exception (the interrupt included) into StorageUnavailable."""

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        from celery.exceptions import SoftTimeLimitExceeded

        from worker.errors import StorageUnavailable

        if bucket == "palettes":
            return super().fetch(bucket, key, max_bytes)
        try:
            raise SoftTimeLimitExceeded()
        except SoftTimeLimitExceeded as exc:
            raise StorageUnavailable("storage error on s3://images/a.png: cut short") from exc


def test_a_storage_call_cut_short_by_the_soft_limit_is_a_timeout_not_a_retry() -> None:
    storage = CutShortStorage()
    storage.put("images", "slow.png", png(), "image/png")
    outcome, doc = run(storage, "slow.png")
    assert (outcome["status"], outcome["reason"]) == ("failed", "timeout")
    assert (doc["status"], doc["error"]["code"]) == ("failed", "timeout")


def test_a_job_killed_at_the_hard_limit_gets_its_failed_timeout_result(
    storage: MemoryStorage,
) -> None:
    """What ``palette.timed_out`` (sent by the worker's main process) does for the job."""
    from worker.timeouts import TIMED_OUT_TASK_NAME

    etag = storage.put("images", "killed.png", png(), "image/png")
    settings = Settings.from_env({"PALETTE_BROKER_URL": NO_REDIS})
    app = make_celery(settings)
    tasks.register(app, settings, lambda: storage)
    job = Job("images", "killed.png", etag).to_message()
    outcome = app.tasks[TIMED_OUT_TASK_NAME].apply(kwargs={"job": job, "seconds": 4}).result
    assert (outcome["status"], outcome["reason"]) == ("failed", "timeout")
    doc = json.loads(storage.objects[("palettes", "killed.png.json")][0])
    assert (doc["error"]["code"], doc["source"]["etag"]) == ("timeout", etag)
    assert "hard time limit (4 s)" in doc["error"]["message"]


def test_with_redis_away_a_duplicate_is_still_recognised_from_the_stored_result() -> None:
    """No ledger to ask: the job may be a duplicate, so the result is read (safe side)."""
    storage = MemoryStorage()
    storage.put("images", "d.png", png(), "image/png")
    _, first = run(storage, "d.png")
    outcome, again = run(storage, "d.png")
    assert (outcome["status"], outcome["reason"]) == ("skipped", "already_done")
    assert again == first
