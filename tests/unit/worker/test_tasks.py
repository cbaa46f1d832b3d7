"""The task pipeline as a plain function over the in-memory storage twin."""

import json
from collections.abc import Mapping

from tests.helpers import etag_of
from worker.config import Settings
from worker.jobs import Job
from worker.storage import MemoryStorage, ObjectInfo
from worker.tasks import failure_source, process


def _stored(storage: MemoryStorage, bucket: str, key: str) -> bytes:
    return storage.objects[(bucket, key)][0]


def test_an_image_gets_a_png_and_a_done_json(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "cats/a.jpg", photo_bytes, "image/jpeg")
    outcome = process(Job("images", "cats/a.jpg"), storage, settings)
    assert outcome.status == "done"
    doc = json.loads(_stored(storage, "palettes", "cats/a.jpg.json"))
    assert doc["status"] == "done"
    assert doc["schema_version"] == 1
    assert doc["source"]["key"] == "cats/a.jpg"
    assert doc["source"]["etag"] == etag_of(storage, "images", "cats/a.jpg")
    assert doc["source"]["format"] == "JPEG"
    assert doc["bar"] == {"bucket": "palettes", "key": "cats/a.jpg.png", "width": 300, "height": 50}
    assert len(doc["colors"]) == 5
    assert set(doc["timings_ms"]) >= {"download", "render", "upload"}
    stages = {"download", "check", "decode", "cluster", "render", "head", "upload"}
    assert set(doc["cpu_ms"]) >= stages  # the worker's CPU by stage, beside the wall times
    assert _stored(storage, "palettes", "cats/a.jpg.png").startswith(b"\x89PNG")
    assert ("images", "cats/a.jpg.json") not in storage.objects  # never where it is triggered


def test_a_non_image_gets_a_failed_json(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("images", "notes.jpg", b"hello, I am text", "image/jpeg")
    outcome = process(Job("images", "notes.jpg"), storage, settings)
    assert (outcome.status, outcome.reason) == ("failed", "not_an_image")
    doc = json.loads(_stored(storage, "palettes", "notes.jpg.json"))
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "not_an_image"
    assert doc["error"]["message"]
    assert doc["colors"] == []
    assert ("palettes", "notes.jpg.png") not in storage.objects


def test_an_object_over_the_byte_limit_is_refused_before_download(
    storage: MemoryStorage, photo_bytes: bytes
) -> None:
    settings = Settings.from_env({"PALETTE_MAX_BYTES": "1000"})
    storage.put("images", "big.jpg", photo_bytes, "image/jpeg")
    outcome = process(Job("images", "big.jpg"), storage, settings)
    assert outcome.reason == "too_large"


def test_a_vanished_object_is_skipped_without_a_result(
    storage: MemoryStorage, settings: Settings
) -> None:
    outcome = process(Job("images", "gone.jpg", "e1"), storage, settings)
    assert (outcome.status, outcome.reason) == ("skipped", "source_missing")
    assert storage.objects == {}


def test_a_stale_event_is_skipped(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    outcome = process(Job("images", "a.jpg", "an-older-etag"), storage, settings)
    assert (outcome.status, outcome.reason) == ("skipped", "stale_event")


def test_a_redelivered_job_is_a_no_op(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    etag = etag_of(storage, "images", "a.jpg")
    assert process(Job("images", "a.jpg", etag), storage, settings).status == "done"
    first = _stored(storage, "palettes", "a.jpg.json")
    again = process(Job("images", "a.jpg", etag), storage, settings)
    assert (again.status, again.reason) == ("skipped", "already_done")
    assert _stored(storage, "palettes", "a.jpg.json") == first


def test_a_result_made_on_another_host_is_current(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    """Hosts differ, results do not: a redelivery on another host must not recompute."""
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    etag = etag_of(storage, "images", "a.jpg")
    process(Job("images", "a.jpg", etag), storage, settings)
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    doc["worker"]["host"] = "another-host"
    storage.put("palettes", "a.jpg.json", json.dumps(doc).encode(), "application/json")
    again = process(Job("images", "a.jpg", etag), storage, settings)
    assert (again.status, again.reason) == ("skipped", "already_done")


def test_another_k_is_recomputed(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    process(Job("images", "a.jpg"), storage, settings)
    assert process(Job("images", "a.jpg", k=3), storage, settings).status == "done"
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    assert doc["options"]["k"] == 3
    assert len(doc["colors"]) == 3


def test_same_bytes_same_palette(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    storage.put("images", "b.jpg", photo_bytes, "image/jpeg")
    process(Job("images", "a.jpg"), storage, settings)
    process(Job("images", "b.jpg"), storage, settings)
    a = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    b = json.loads(_stored(storage, "palettes", "b.jpg.json"))
    assert a["colors"] == b["colors"]
    assert _stored(storage, "palettes", "a.jpg.png") == _stored(storage, "palettes", "b.jpg.png")


def test_a_result_of_another_worker_version_or_options_is_recomputed(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    """After an upgrade, re-sending the same bytes must not serve the old algorithm's palette."""
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    etag = etag_of(storage, "images", "a.jpg")
    process(Job("images", "a.jpg", etag), storage, settings)
    for stale in ({"worker": {"version": "0.0.1"}}, {"options": {"k": 5, "sample_size": 1}}):
        doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
        storage.put("palettes", "a.jpg.json", json.dumps({**doc, **stale}).encode(), "")
        again = process(Job("images", "a.jpg", etag), storage, settings)
        assert again.status == "done", stale


def test_the_upload_chooses_k_in_its_metadata(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg", metadata={"palette-k": "3"})
    assert process(Job("images", "a.jpg"), storage, settings).status == "done"
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    assert (doc["options"]["k"], len(doc["colors"])) == (3, 3)
    assert doc["source"]["metadata"] == {"palette-k": "3"}


def test_k_auto_from_metadata_is_recorded(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg", metadata={"palette-k": "auto"})
    process(Job("images", "a.jpg"), storage, settings)
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    assert doc["options"]["k"] == doc["quality"]["k_requested"] == "auto"
    assert doc["quality"]["k_returned"] == len(doc["colors"])


def test_an_invalid_k_in_metadata_is_a_failed_result(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg", metadata={"palette-k": "99"})
    outcome = process(Job("images", "a.jpg"), storage, settings)
    assert (outcome.status, outcome.reason) == ("failed", "invalid_options")
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    assert doc["error"] == {
        "code": "invalid_options",
        "message": "x-amz-meta-palette-k: k must be an integer 1-32 or 'auto' (got '99')",
        "retryable": False,
        "attempts": 1,
    }
    assert (doc["options"], doc["colors"]) == ({}, [])
    assert doc["source"]["metadata"] == {"palette-k": "99"}
    assert ("palettes", "a.jpg.png") not in storage.objects


def test_same_bytes_uploaded_again_with_another_k_are_recomputed(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    """Identical bytes keep their ETag: only the options tell the two uploads apart."""
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg", metadata={"palette-k": "3"})
    etag = etag_of(storage, "images", "a.jpg")
    process(Job("images", "a.jpg", etag), storage, settings)
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg", metadata={"palette-k": "4"})
    assert etag_of(storage, "images", "a.jpg") == etag
    assert process(Job("images", "a.jpg", etag), storage, settings).status == "done"
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    assert (doc["options"]["k"], len(doc["colors"])) == (4, 4)
    again = process(Job("images", "a.jpg", etag), storage, settings)
    assert (again.status, again.reason) == ("skipped", "already_done")


class ReplacedWhileProcessing(MemoryStorage):
    """The object is uploaded again (``then`` bytes and metadata) right after the job's
    GET: what happens when v2 arrives while v1 is being decoded."""

    def __init__(self, then: bytes, metadata: dict[str, str] | None = None) -> None:
        super().__init__()
        self.then, self.then_metadata, self.replaced = then, metadata, False

    def fetch(
        self, bucket: str, key: str, max_bytes: int | None = None
    ) -> tuple[bytes, ObjectInfo]:
        fetched = super().fetch(bucket, key, max_bytes)
        if not self.replaced and bucket == "images":
            self.replaced = True
            self.put(bucket, key, self.then, "image/jpeg", metadata=self.then_metadata)
        return fetched


def test_a_job_for_a_replaced_version_writes_nothing(
    settings: Settings, photo_bytes: bytes
) -> None:
    storage = ReplacedWhileProcessing(b"v2 bytes")
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    outcome = process(Job("images", "a.jpg"), storage, settings)
    assert (outcome.status, outcome.reason) == ("skipped", "superseded")
    assert [key for bucket, key in storage.objects if bucket == "palettes"] == []


def test_a_failure_of_a_replaced_version_is_not_stored(settings: Settings) -> None:
    storage = ReplacedWhileProcessing(b"v2 bytes")
    storage.put("images", "a.jpg", b"not an image", "image/jpeg")
    outcome = process(Job("images", "a.jpg"), storage, settings)
    assert (outcome.status, outcome.reason) == ("skipped", "superseded")
    assert ("palettes", "a.jpg.json") not in storage.objects


def test_same_bytes_with_another_k_during_processing_supersede_it(
    settings: Settings, photo_bytes: bytes
) -> None:
    storage = ReplacedWhileProcessing(photo_bytes, {"palette-k": "4"})
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg", metadata={"palette-k": "3"})
    outcome = process(Job("images", "a.jpg"), storage, settings)
    assert (outcome.status, outcome.reason) == ("skipped", "superseded")


def test_a_job_whose_image_went_while_processing_writes_nothing(
    settings: Settings, photo_bytes: bytes
) -> None:
    class Deleted(MemoryStorage):
        def head(self, bucket: str, key: str) -> ObjectInfo | None:
            return None

    storage = Deleted()
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    outcome = process(Job("images", "a.jpg"), storage, settings)
    assert (outcome.status, outcome.reason) == ("skipped", "source_missing")
    assert ("palettes", "a.jpg.json") not in storage.objects


def test_a_failure_stored_without_a_get_records_the_uploads_options(
    storage: MemoryStorage, settings: Settings
) -> None:
    """A timed-out or lost job's failure says what the upload asked for, so it can be
    current; for a version that is no longer there, nothing is stored."""
    storage.put("images", "a.jpg", b"x", "image/jpeg", metadata={"palette-k": "3"})
    etag = etag_of(storage, "images", "a.jpg")
    found = failure_source(storage, settings, Job("images", "a.jpg", etag))
    assert found is not None
    source, k, previous = found
    assert (source["etag"], source["metadata"], k) == (etag, {"palette-k": "3"}, 3)
    assert previous is None  # nothing stored yet: this is attempt 1
    assert failure_source(storage, settings, Job("images", "a.jpg", "an-older-etag")) is None
    assert failure_source(storage, settings, Job("images", "gone.jpg")) is None


def test_a_duplicate_job_for_a_final_failure_is_skipped(
    storage: MemoryStorage, settings: Settings
) -> None:
    """Issue 9 item 4: the input is at fault; running it again cannot change the answer."""
    storage.put("images", "a.jpg", b"not an image", "image/jpeg")
    first = process(Job("images", "a.jpg"), storage, settings)
    assert (first.status, first.reason) == ("failed", "not_an_image")
    doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
    assert (doc["error"]["retryable"], doc["error"]["attempts"]) == (False, 1)
    again = process(Job("images", "a.jpg"), storage, settings)
    assert (again.status, again.reason) == ("skipped", "already_failed")


def test_a_retryable_failure_is_run_again_and_its_attempts_counted(
    storage: MemoryStorage, settings: Settings, photo_bytes: bytes
) -> None:
    from worker.errors import ProcessingTimeout
    from worker.tasks import store_failure

    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    job = Job("images", "a.jpg", storage.head("images", "a.jpg").etag)  # type: ignore[union-attr]
    for expected in (1, 2):
        source, k, previous = failure_source(storage, settings, job)  # type: ignore[misc]
        store_failure(storage, settings, job, source, ProcessingTimeout("t"), k, None, previous)
        doc = json.loads(_stored(storage, "palettes", "a.jpg.json"))
        assert (doc["error"]["code"], doc["error"]["retryable"]) == ("timeout", True)
        assert doc["error"]["attempts"] == expected
    assert process(job, storage, settings).status == "done"  # the retry the sweep sends
    assert failure_source(storage, settings, job) is None  # a late failure never replaces it


class CountingStorage(MemoryStorage):
    """The in-memory store, counting requests by (method, bucket)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests: list[tuple[str, str]] = []

    def get(self, bucket: str, key: str, max_bytes: int | None = None) -> bytes:
        self.requests.append(("GET", bucket))
        return super().get(bucket, key, max_bytes)

    def put(
        self,
        bucket: str,
        key: str,
        data: bytes,
        content_type: str,
        cache_control: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> str | None:
        self.requests.append(("PUT", bucket))
        return super().put(bucket, key, data, content_type, cache_control, metadata)


def test_a_first_start_reads_no_result_before_the_work(
    settings: Settings, photo_bytes: bytes
) -> None:
    storage = CountingStorage()
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    storage.requests.clear()
    outcome = process(Job("images", "a.jpg"), storage, settings, seen=False)
    assert outcome.status == "done"
    assert ("GET", "palettes") not in storage.requests
    assert storage.requests.count(("PUT", "palettes")) == 2  # the bar, then the JSON


def test_a_job_seen_before_is_skipped_without_a_second_render(
    settings: Settings, photo_bytes: bytes
) -> None:
    storage = CountingStorage()
    storage.put("images", "a.jpg", photo_bytes, "image/jpeg")
    job = Job("images", "a.jpg", etag_of(storage, "images", "a.jpg"))
    process(job, storage, settings, seen=False)
    first = _stored(storage, "palettes", "a.jpg.json")
    storage.requests.clear()
    again = process(job, storage, settings, seen=True)
    assert (again.status, again.reason) == ("skipped", "already_done")
    assert storage.requests == [("GET", "palettes")]  # the check; no PUT
    assert _stored(storage, "palettes", "a.jpg.json") == first


def test_a_failure_after_a_skipped_check_still_counts_its_attempts(settings: Settings) -> None:
    """The previous failure of this version is read when the job fails, not before."""
    storage = CountingStorage()
    storage.put("images", "n.jpg", b"not an image", "image/jpeg")
    job = Job("images", "n.jpg", etag_of(storage, "images", "n.jpg"))
    source = {"bucket": "images", "key": "n.jpg", "etag": job.etag}
    previous = {"status": "failed", "source": source, "error": {"attempts": 2, "retryable": True}}
    storage.put("palettes", "n.jpg.json", json.dumps(previous).encode(), "application/json")
    outcome = process(job, storage, settings, seen=False)
    assert (outcome.status, outcome.reason) == ("failed", "not_an_image")
    assert json.loads(_stored(storage, "palettes", "n.jpg.json"))["error"]["attempts"] == 3
