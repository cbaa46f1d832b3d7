"""One contract, two stores: the same cases against ``MemoryStorage`` and real SeaweedFS.

Unit tests of the layers above run on ``MemoryStorage``; this is what makes that honest.
A new store joins by adding a fixture parameter.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from worker.errors import SourceMissing, TooLarge
from worker.storage import MemoryStorage, Storage, get_json, make_storage

pytestmark = pytest.mark.integration

DATA = b"\x89PNG not really, but bytes " * 100
BUCKETS = ("contract-a", "contract-b")
"""Buckets of their own: no storage event, no worker, no gallery ever sees these objects."""


@pytest.fixture(scope="module")
def seaweedfs(stack: Any) -> Iterator[Storage]:
    """``make_storage`` on the session's SeaweedFS, in buckets made for this module and
    removed after it (other tests check that only the two real buckets exist)."""
    for bucket in BUCKETS:
        stack.s3.create_bucket(Bucket=bucket)
    storage = make_storage(stack.settings)
    try:
        yield storage
    finally:
        storage.close()  # type: ignore[attr-defined]
        for bucket in BUCKETS:
            for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    stack.s3.delete_object(Bucket=bucket, Key=item["Key"])
            stack.s3.delete_bucket(Bucket=bucket)


@pytest.fixture(params=["memory", "seaweedfs"])
def store(request: pytest.FixtureRequest) -> Storage:
    if request.param == "memory":
        return MemoryStorage()
    storage: Storage = request.getfixturevalue("seaweedfs")
    return storage


@pytest.fixture
def prefix() -> str:
    return f"contract-{uuid.uuid4().hex[:8]}/"


def test_what_is_put_is_fetched_with_its_version(store: Storage, prefix: str) -> None:
    key = prefix + "a.png"
    etag = store.put("contract-a", key, DATA, "image/png")
    data, info = store.fetch("contract-a", key)
    assert data == DATA
    assert etag == info.etag == hashlib.md5(DATA).hexdigest()
    assert (info.bucket, info.key, info.size) == ("contract-a", key, len(DATA))
    assert info.last_modified is not None
    assert store.head("contract-a", key) == info
    assert store.get("contract-a", key) == DATA


def test_an_overwrite_is_a_new_version(store: Storage, prefix: str) -> None:
    key = prefix + "a.png"
    first = store.put("contract-a", key, DATA, "image/png")
    second = store.put("contract-a", key, DATA + b"!", "image/png")
    assert first != second
    assert store.fetch("contract-a", key) == (DATA + b"!", store.head("contract-a", key))


def test_a_missing_object(store: Storage, prefix: str) -> None:
    assert store.head("contract-a", prefix + "none.png") is None
    with pytest.raises(SourceMissing):
        store.fetch("contract-a", prefix + "none.png")
    with pytest.raises(SourceMissing):
        store.get("contract-b", prefix + "none.png.json")
    assert get_json(store, "contract-b", prefix + "none.png.json") is None


def test_a_missing_bucket_is_a_missing_object(store: Storage, prefix: str) -> None:
    assert store.head("no-such-bucket", prefix + "a.png") is None
    with pytest.raises(SourceMissing):
        store.fetch("no-such-bucket", prefix + "a.png")


def test_the_byte_limit_is_enforced(store: Storage, prefix: str) -> None:
    key = prefix + "big.png"
    store.put("contract-a", key, DATA, "image/png")
    with pytest.raises(TooLarge):
        store.fetch("contract-a", key, max_bytes=len(DATA) - 1)
    assert store.fetch("contract-a", key, max_bytes=len(DATA))[0] == DATA
    assert store.fetch("contract-a", key)[0] == DATA  # a refused read leaves the store usable


@pytest.mark.parametrize("name", ["my photos/a b+c ü%.png", "deep/er/still/x.png", "x?y#z.png"])
def test_keys_arrive_exactly(store: Storage, prefix: str, name: str) -> None:
    key = prefix + name
    store.put("contract-a", key, DATA, "image/png")
    assert store.get("contract-a", key) == DATA
    assert [info.key for info in store.list("contract-a", prefix)] == [key]


def test_an_empty_object(store: Storage, prefix: str) -> None:
    store.put("contract-a", prefix + "empty", b"", "application/octet-stream")
    data, info = store.fetch("contract-a", prefix + "empty")
    assert (data, info.size) == (b"", 0)


def test_list_is_in_key_order_and_scoped_to_the_prefix(store: Storage, prefix: str) -> None:
    for name in ("b.png", "a.png", "sub/c.png"):
        store.put("contract-a", prefix + name, DATA, "image/png")
    store.put("contract-a", prefix.rstrip("/") + "-other/d.png", DATA, "image/png")
    listed = list(store.list("contract-a", prefix))
    assert [i.key for i in listed] == [prefix + n for n in ("a.png", "b.png", "sub/c.png")]
    assert all(i.etag == hashlib.md5(DATA).hexdigest() and i.size == len(DATA) for i in listed)


def test_json_documents(store: Storage, prefix: str) -> None:
    store.put("contract-b", prefix + "a.json", b'{"status": "done"}', "application/json")
    store.put("contract-b", prefix + "b.json", b"not json", "application/json")
    store.put("contract-b", prefix + "c.json", b"[1, 2]", "application/json")
    assert get_json(store, "contract-b", prefix + "a.json") == {"status": "done"}
    assert get_json(store, "contract-b", prefix + "b.json") is None
    assert get_json(store, "contract-b", prefix + "c.json") is None


def test_user_metadata_comes_back_with_head_and_fetch(store: Storage, prefix: str) -> None:
    key = prefix + "a.png"
    store.put("contract-a", key, DATA, "image/png", metadata={"Palette-K": "auto", "x": "1"})
    info = store.fetch("contract-a", key)[1]
    assert dict(info.metadata) == {"palette-k": "auto", "x": "1"}
    head = store.head("contract-a", key)
    assert head is not None
    assert dict(head.metadata) == dict(info.metadata)
    store.put("contract-a", key, DATA, "image/png")  # same bytes, no metadata: a new version
    assert dict(store.fetch("contract-a", key)[1].metadata) == {}


def test_delete_removes_and_is_idempotent(store: Storage, prefix: str) -> None:
    key = prefix + "gone.png"
    store.put("contract-a", key, DATA, "image/png")
    store.delete("contract-a", key)
    assert store.head("contract-a", key) is None
    assert list(store.list("contract-a", prefix)) == []
    store.delete("contract-a", key)  # already gone: no error
    store.delete("no-such-bucket", key)
