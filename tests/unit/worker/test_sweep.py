import json

from worker.config import Settings
from worker.jobs import Job
from worker.storage import MemoryStorage
from worker.sweep import stale_jobs, sweep


def _result(etag: str | None) -> bytes:
    return json.dumps({"status": "done", "source": {"etag": etag}}).encode()


def test_missing_and_outdated_results_are_found(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("palettes", "changed.jpg.json", _result("an-old-version"), "")
    storage.put("palettes", "touched.jpg.json", _result(None), "")
    storage.put("images", "changed.jpg", b"3", "image/jpeg")  # re-uploaded after its result
    storage.put("images", "missing.jpg", b"2", "image/jpeg")
    storage.put("images", "fresh.jpg", b"1", "image/jpeg")
    storage.put("images", "touched.jpg", b"4", "image/jpeg")
    storage.put("palettes", "fresh.jpg.json", _result(storage.head("images", "fresh.jpg").etag), "")
    keys = sorted(job.key for job in stale_jobs(storage, settings))
    assert keys == ["changed.jpg", "missing.jpg", "touched.jpg"]


def test_an_old_result_that_records_the_current_etag_is_current(
    storage: MemoryStorage, settings: Settings
) -> None:
    storage.put("palettes", "a.jpg.json", _result("c4ca4238a0b923820dcc509a6f75849b"), "")
    storage.put("images", "a.jpg", b"1", "image/jpeg")  # md5(b"1") is that ETag
    assert list(stale_jobs(storage, settings)) == []


def test_sweep_enqueues_with_the_current_etag(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("images", "a.jpg", b"1", "image/jpeg")
    sent: list[Job] = []
    report = sweep(storage, settings, sent.append)
    assert [job.etag for job in sent] == [storage.head("images", "a.jpg").etag]
    assert (report.scanned, report.enqueued, report.up_to_date) == (1, 1, 0)


def test_results_never_count_as_inputs(storage: MemoryStorage, settings: Settings) -> None:
    storage.put("palettes", "x.jpg.json", b"{}", "")
    assert list(stale_jobs(storage, settings)) == []
