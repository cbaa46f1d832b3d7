import json
from typing import Any

from tests.unit.worker.test_freshness import result
from worker import document
from worker.config import Settings
from worker.jobs import REMOVE, REMOVE_TASK_NAME, Job
from worker.storage import MemoryStorage
from worker.sweep import KeyCursor, orphan_jobs, stale_jobs, sweep


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


def test_keys_whose_result_keys_sort_apart_are_still_judged_right(
    storage: MemoryStorage, settings: Settings
) -> None:
    """ "a" < "a-b" < "a/c" but "a-b.json" < "a.json" < "a/c.json": the walk must not take
    a result it already passed for a missing one, nor a missing one for present."""
    keys = ["a", "a-b", "a b", "a!", "a/c", "a.png", "b"]
    for key in keys:
        storage.put("images", key, key.encode(), "image/png")
    for key in ("a", "a b", "a/c"):  # current results; the others have none
        storage.put("palettes", key + ".json", _result(_etag(storage, key)), "")
    report = sweep(storage, settings, lambda job: None)
    assert sorted(job.key for job in stale_jobs(storage, settings)) == ["a!", "a-b", "a.png", "b"]
    assert (report.scanned, report.enqueued) == (7, 4)


def test_the_result_cursor_answers_exactly_in_order_and_none_behind() -> None:
    cursor = KeyCursor(iter(["a-b.json", "a.json", "a.png", "b.json"]))
    assert cursor.has("a-b.json") is True
    assert cursor.has("a.json") is True
    assert cursor.has("a.png.json") is False
    assert cursor.has("a-c.json") is None  # behind: the cursor already went past it
    assert cursor.has("c.json") is False


def test_each_listing_is_read_once_per_pass(storage: MemoryStorage, settings: Settings) -> None:
    """Two passes (stale images, then results whose image is gone), each walking both
    listings once: four LIST walks, whatever the bucket's size."""
    for n in range(5):
        storage.put("images", f"{n}.jpg", b"x", "image/jpeg")
    calls: list[str] = []
    real_list = storage.list

    def counted(bucket: str, prefix: str = "") -> Any:
        calls.append(bucket)
        return real_list(bucket, prefix)

    storage.list = counted  # type: ignore[method-assign]
    report = sweep(storage, settings, lambda job: None)
    assert sorted(calls) == ["images", "images", "palettes", "palettes"]
    assert (report.scanned, report.enqueued, report.up_to_date) == (5, 5, 0)


def _failed(etag: str | None, code: str, retryable: bool, tries: int, at: str) -> bytes:
    error = {"code": code, "message": "m", "retryable": retryable, "attempts": tries}
    doc = result(etag, status="failed", error=error, created_at=at)
    return json.dumps(doc).encode()


def test_retryable_failures_are_enqueued_again_after_their_back_off_up_to_the_bound(
    storage: MemoryStorage,
) -> None:
    """Issue 9 item 4: a timeout is tried again; bad input, a fresh failure and one that
    used up its attempts are not."""
    settings = Settings.from_env({"PALETTE_FAILURE_RETRY_AFTER": "60"})
    long_ago, just_now = "2020-01-01T00:00:00.000000Z", document.now()
    cases = {
        "timeout.jpg": ("timeout", True, 1, long_ago),
        "storage.jpg": ("storage_unavailable", True, 2, long_ago),
        "fresh.jpg": ("worker_lost", True, 1, just_now),
        "used-up.jpg": ("timeout", True, 3, long_ago),
        "bad.jpg": ("not_an_image", False, 1, long_ago),
    }
    for n, (key, case) in enumerate(cases.items()):
        storage.put("images", key, str(n).encode(), "image/jpeg")
        storage.put("palettes", key + ".json", _failed(_etag(storage, key), *case), "")
    assert sorted(job.key for job in stale_jobs(storage, settings)) == [
        "storage.jpg",
        "timeout.jpg",
    ]


def test_results_whose_image_is_gone_get_one_removal_each(
    storage: MemoryStorage, settings: Settings
) -> None:
    """Issue 12 item 6: a lost removal event leaves results behind; the sweep finds every
    image that has any output left (a bar whose JSON went first included), once each,
    and leaves alone the results of images that exist and keys no output makes."""
    storage.put("images", "kept.jpg", b"1", "image/jpeg")
    storage.put("palettes", "kept.jpg.json", _result(_etag(storage, "kept.jpg")), "")
    storage.put("palettes", "kept.jpg.png", b"bar", "image/png")
    storage.put("palettes", "gone.jpg.json", _result("e"), "")
    storage.put("palettes", "gone.jpg.png", b"bar", "image/png")
    storage.put("palettes", "half-removed.jpg.png", b"bar", "image/png")
    storage.put("palettes", "notes.txt", b"not an output", "text/plain")
    sent: list[Job] = []
    report = sweep(storage, settings, sent.append)
    assert sorted(job.key for job in sent) == ["gone.jpg", "half-removed.jpg"]
    assert {(job.bucket, job.action, job.task_name) for job in sent} == {
        ("images", REMOVE, REMOVE_TASK_NAME)
    }
    assert (report.scanned, report.enqueued, report.removed) == (1, 0, 2)


def test_an_image_the_cursor_passed_is_asked_for_not_removed(
    storage: MemoryStorage, settings: Settings
) -> None:
    """ "a-b.png" < "a.json" but "a" < "a-b": the image "a" comes after the cursor went
    past it; a HEAD decides, and an existing image is never sent for removal."""
    for key in ("a", "a-b"):
        storage.put("images", key, key.encode(), "image/png")
        storage.put("palettes", key + ".json", _result(_etag(storage, key)), "")
        storage.put("palettes", key + ".png", b"bar", "image/png")
    storage.put("palettes", "a-a.json", _result("e"), "")  # its image is gone
    assert [job.key for job in orphan_jobs(storage, settings)] == ["a-a"]
