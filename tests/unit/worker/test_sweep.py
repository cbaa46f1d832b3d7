import json
from typing import Any

from tests.unit.worker.test_freshness import result
from worker.config import Settings
from worker.jobs import Job
from worker.storage import MemoryStorage
from worker.sweep import stale_jobs, sweep


def _result(etag: str | None, **changes: Any) -> bytes:
    return json.dumps(result(etag, **changes)).encode()


def _etag(storage: MemoryStorage, key: str) -> str | None:
    info = storage.head("images", key)
    return info.etag if info is not None else None


def test_missing_and_outdated_results_are_found(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("palettes", "changed.jpg.json", _result("an-old-version"), "")
    storage.put("palettes", "touched.jpg.json", _result(None), "")
    storage.put("images", "changed.jpg", b"3", "image/jpeg")  # re-uploaded after its result
    storage.put("images", "missing.jpg", b"2", "image/jpeg")
    storage.put("images", "fresh.jpg", b"1", "image/jpeg")
    storage.put("images", "touched.jpg", b"4", "image/jpeg")
    storage.put("palettes", "fresh.jpg.json", _result(_etag(storage, "fresh.jpg")), "")
    keys = sorted(job.key for job in stale_jobs(storage, settings))
    assert keys == ["changed.jpg", "missing.jpg", "touched.jpg"]


def test_a_result_written_after_a_newer_upload_is_still_stale(
    storage: MemoryStorage, settings: Settings
) -> None:
    """The race of issue 9: v1's slow job stores its result after v2 was uploaded. Its
    timestamp is newer than the image's, its ETag is not the image's."""
    storage.put("images", "a.jpg", b"v2", "image/jpeg")
    storage.put("palettes", "a.jpg.json", _result("etag-of-v1"), "")
    assert [job.etag for job in stale_jobs(storage, settings)] == [_etag(storage, "a.jpg")]


def test_an_old_result_that_records_the_current_etag_is_current(
    storage: MemoryStorage, settings: Settings
) -> None:
    storage.put("palettes", "a.jpg.json", _result("c4ca4238a0b923820dcc509a6f75849b"), "")
    storage.put("images", "a.jpg", b"1", "image/jpeg")  # md5(b"1") is that ETag
    assert list(stale_jobs(storage, settings)) == []


def test_a_per_upload_k_result_is_current_and_not_enqueued_again(
    storage: MemoryStorage, settings: Settings
) -> None:
    storage.put("images", "a.jpg", b"1", "image/jpeg", metadata={"palette-k": "3"})
    storage.put(
        "palettes", "a.jpg.json", _result(_etag(storage, "a.jpg"), metadata={"palette-k": "3"}), ""
    )
    assert list(stale_jobs(storage, settings)) == []


def test_another_worker_version_or_default_k_is_stale(
    storage: MemoryStorage, settings: Settings
) -> None:
    storage.put("images", "a.jpg", b"1", "image/jpeg")
    etag = _etag(storage, "a.jpg")
    storage.put("palettes", "a.jpg.json", _result(etag, version="0.0.1"), "")
    assert [job.key for job in stale_jobs(storage, settings)] == ["a.jpg"]
    storage.put("palettes", "a.jpg.json", _result(etag), "")
    assert [job.key for job in stale_jobs(storage, settings.with_overrides(default_k=7))] == [
        "a.jpg"
    ]


def test_sweep_enqueues_with_the_current_etag(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("images", "a.jpg", b"1", "image/jpeg")
    sent: list[Job] = []
    report = sweep(storage, settings, sent.append)
    assert [job.etag for job in sent] == [_etag(storage, "a.jpg")]
    assert (report.scanned, report.enqueued, report.up_to_date) == (1, 1, 0)


def test_results_never_count_as_inputs(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("palettes", "x.jpg.json", b"{}", "")
    assert list(stale_jobs(storage, settings)) == []
