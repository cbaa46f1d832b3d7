"""Removing the results of a deleted image, on MemoryStorage; the pipeline test does it for real."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import etag_of
from worker.config import Settings
from worker.jobs import Job
from worker.removal import IMAGE_EXISTS, REMOVED, REUPLOADED, remove_results
from worker.storage import MemoryStorage, ObjectInfo

SETTINGS = Settings()


def with_results(key: str) -> MemoryStorage:
    storage = MemoryStorage()
    storage.put("palettes", key + ".json", b"{}", "application/json")
    storage.put("palettes", key + ".png", b"png", "image/png")
    storage.put("palettes", "other.jpg.json", b"{}", "application/json")
    return storage


def test_results_of_a_deleted_image_go_and_nothing_else() -> None:
    storage = with_results("cats/a.jpg")
    assert remove_results(storage, SETTINGS, "cats/a.jpg") == REMOVED
    assert [i.key for i in storage.list("palettes")] == ["other.jpg.json"]
    assert remove_results(storage, SETTINGS, "cats/a.jpg") == REMOVED  # idempotent


def test_an_image_that_exists_keeps_its_results() -> None:
    """A delete event that arrives after the re-upload of the same key changes nothing."""
    storage = with_results("a.jpg")
    storage.put("images", "a.jpg", b"new bytes", "image/jpeg")
    assert remove_results(storage, SETTINGS, "a.jpg") == IMAGE_EXISTS
    assert len(list(storage.list("palettes"))) == 3


class ReuploadDuringRemoval(MemoryStorage):
    """The image comes back between the first look and the deletes."""

    def __init__(self) -> None:
        super().__init__()
        self.looks = 0

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        if bucket == "images":
            self.looks += 1
            if self.looks == 2:
                self.put("images", key, b"v2", "image/jpeg")
        return super().head(bucket, key)


def test_a_reupload_racing_the_removal_is_processed_again() -> None:
    storage = ReuploadDuringRemoval()
    storage.put("palettes", "a.jpg.json", b"{}", "application/json")
    sent: list[Job] = []
    assert remove_results(storage, SETTINGS, "a.jpg", sent.append) == REUPLOADED
    etag = etag_of(storage, "images", "a.jpg")
    assert sent == [Job("images", "a.jpg", etag, 2)]


@pytest.mark.parametrize("key", ["a.jpg", "deep/x y+z ü.png"])
def test_the_celery_task_removes(key: str) -> None:
    from worker import tasks
    from worker.celery_app import make_celery
    from worker.jobs import REMOVE

    storage = with_results(key)
    settings = Settings.from_env({"PALETTE_BROKER_URL": "redis://127.0.0.1:9/0"})
    app = make_celery(settings)
    tasks.register(app, settings, lambda: storage)
    job = Job("images", key, action=REMOVE)
    result: Any = app.tasks["palette.remove"].apply(kwargs={"job": job.to_message()}).result
    assert result == {"job_id": job.id, "status": "removed", "reason": "removed"}
    assert [i.key for i in storage.list("palettes")] == ["other.jpg.json"]
