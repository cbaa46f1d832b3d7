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


@pytest.fixture(params=["memory", "seaweedfs"])
def store(request: pytest.FixtureRequest) -> Iterator[Storage]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    stack: Any = request.getfixturevalue("stack")
    storage = make_storage(stack.settings)
    yield storage
    storage.close()  # type: ignore[attr-defined]


@pytest.fixture
def prefix() -> str:
    return f"contract-{uuid.uuid4().hex[:8]}/"


def test_what_is_put_is_fetched_with_its_version(store: Storage, prefix: str) -> None:
    key = prefix + "a.png"
    etag = store.put("images", key, DATA, "image/png")
    data, info = store.fetch("images", key)
    assert data == DATA
    assert etag == info.etag == hashlib.md5(DATA).hexdigest()
    assert (info.bucket, info.key, info.size) == ("images", key, len(DATA))
    assert info.last_modified is not None
    assert store.head("images", key) == info
    assert store.get("images", key) == DATA


def test_an_overwrite_is_a_new_version(store: Storage, prefix: str) -> None:
    key = prefix + "a.png"
    first = store.put("images", key, DATA, "image/png")
    second = store.put("images", key, DATA + b"!", "image/png")
    assert first != second
    assert store.fetch("images", key) == (DATA + b"!", store.head("images", key))


def test_a_missing_object(store: Storage, prefix: str) -> None:
    assert store.head("images", prefix + "none.png") is None
    with pytest.raises(SourceMissing):
        store.fetch("images", prefix + "none.png")
    with pytest.raises(SourceMissing):
        store.get("palettes", prefix + "none.png.json")
    assert get_json(store, "palettes", prefix + "none.png.json") is None


def test_a_missing_bucket_is_a_missing_object(store: Storage, prefix: str) -> None:
    assert store.head("no-such-bucket", prefix + "a.png") is None
    with pytest.raises(SourceMissing):
        store.fetch("no-such-bucket", prefix + "a.png")


def test_the_byte_limit_is_enforced(store: Storage, prefix: str) -> None:
    key = prefix + "big.png"
    store.put("images", key, DATA, "image/png")
    with pytest.raises(TooLarge):
        store.fetch("images", key, max_bytes=len(DATA) - 1)
    assert store.fetch("images", key, max_bytes=len(DATA))[0] == DATA
    assert store.fetch("images", key)[0] == DATA  # a refused read leaves the store usable


@pytest.mark.parametrize("name", ["my photos/a b+c ü%.png", "deep/er/still/x.png", "x?y#z.png"])
def test_keys_arrive_exactly(store: Storage, prefix: str, name: str) -> None:
    key = prefix + name
    store.put("images", key, DATA, "image/png")
    assert store.get("images", key) == DATA
    assert [info.key for info in store.list("images", prefix)] == [key]


def test_an_empty_object(store: Storage, prefix: str) -> None:
    store.put("images", prefix + "empty", b"", "application/octet-stream")
    data, info = store.fetch("images", prefix + "empty")
    assert (data, info.size) == (b"", 0)


def test_list_is_in_key_order_and_scoped_to_the_prefix(store: Storage, prefix: str) -> None:
    for name in ("b.png", "a.png", "sub/c.png"):
        store.put("images", prefix + name, DATA, "image/png")
    store.put("images", prefix.rstrip("/") + "-other/d.png", DATA, "image/png")
    listed = list(store.list("images", prefix))
    assert [i.key for i in listed] == [prefix + n for n in ("a.png", "b.png", "sub/c.png")]
    assert all(i.etag == hashlib.md5(DATA).hexdigest() and i.size == len(DATA) for i in listed)


def test_json_documents(store: Storage, prefix: str) -> None:
    store.put("palettes", prefix + "a.json", b'{"status": "done"}', "application/json")
    store.put("palettes", prefix + "b.json", b"not json", "application/json")
    store.put("palettes", prefix + "c.json", b"[1, 2]", "application/json")
    assert get_json(store, "palettes", prefix + "a.json") == {"status": "done"}
    assert get_json(store, "palettes", prefix + "b.json") is None
    assert get_json(store, "palettes", prefix + "c.json") is None
