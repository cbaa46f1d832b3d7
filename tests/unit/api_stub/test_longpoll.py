"""Long-polls and conditional GETs of results and bars, in-process (no Redis, no sockets).

The worker's announcement is played by ``app.state.waiters.wake(key)``, which is what
``api_stub.push.ResultFeed`` calls for each message; the integration tests run the real
subscription against Redis and the real worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from api_stub.app import create_app
from api_stub.caching import entity_tag, matches
from api_stub.push import Waiters
from tests.helpers import etag_of
from tests.unit.api_stub.fakes import FakeQueue, current_result
from worker.config import Settings
from worker.storage import MemoryStorage

KEY = "cats/a b+ü.png"
URL = "/palettes/cats/a%20b%2B%C3%BC.png"


def setup() -> tuple[Any, MemoryStorage]:
    storage = MemoryStorage()
    app = create_app(Settings.from_env({}), storage, FakeQueue())
    return app, storage


def store_result(storage: MemoryStorage, key: str = KEY, status: str = "done") -> bytes:
    etag = etag_of(storage, "images", key)
    document = current_result(etag, status)
    raw = json.dumps(document).encode()
    storage.put("palettes", key + ".json", raw, "application/json")
    return raw


async def get(app: Any, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
        return await c.get(url, **kwargs)


def test_a_long_poll_answers_when_the_result_is_announced() -> None:
    app, storage = setup()
    storage.put("images", KEY, b"png bytes", "image/png")

    async def scenario() -> tuple[httpx.Response, float]:
        started = time.monotonic()
        poll = asyncio.create_task(get(app, URL + "?wait=30"))
        await asyncio.sleep(0.3)
        assert not poll.done()  # pending: it waits
        raw = store_result(storage)
        assert app.state.waiters.wake(KEY) == 1
        response = await poll
        assert response.content == raw
        return response, time.monotonic() - started

    response, took = asyncio.run(scenario())
    assert response.status_code == 200
    assert took < 10  # far from the 30 s it would otherwise wait
    assert len(app.state.waiters) == 0


def test_a_long_poll_without_announcement_answers_202_after_n_seconds() -> None:
    app, storage = setup()
    storage.put("images", KEY, b"png bytes", "image/png")
    started = time.monotonic()
    response = asyncio.run(get(app, URL + "?wait=0.5"))
    assert time.monotonic() - started >= 0.5
    assert (response.status_code, response.json()["status"]) == (202, "pending")
    assert response.headers["cache-control"] == "no-store"
    assert len(app.state.waiters) == 0


def test_an_announcement_for_a_result_not_yet_current_keeps_waiting() -> None:
    """A stray or stale message costs one read, not the answer."""
    app, storage = setup()
    storage.put("images", KEY, b"png bytes", "image/png")

    async def scenario() -> httpx.Response:
        poll = asyncio.create_task(get(app, URL + "?wait=30"))
        await asyncio.sleep(0.2)
        stale = {"schema_version": 1, "status": "done", "source": {"etag": "0" * 32}}
        storage.put("palettes", KEY + ".json", json.dumps(stale).encode(), "application/json")
        app.state.waiters.wake(KEY)
        await asyncio.sleep(0.3)
        assert not poll.done()
        store_result(storage)
        app.state.waiters.wake(KEY)
        return await poll

    assert asyncio.run(scenario()).status_code == 200


@pytest.mark.parametrize(("setup_image", "code"), [(False, 404), (True, 200)])
def test_a_long_poll_answers_at_once_when_there_is_nothing_to_wait_for(
    setup_image: bool, code: int
) -> None:
    app, storage = setup()
    if setup_image:
        storage.put("images", KEY, b"png bytes", "image/png")
        store_result(storage)
    started = time.monotonic()
    assert asyncio.run(get(app, URL + "?wait=30")).status_code == code
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_wait_is_bounded(wait: str) -> None:
    app, _ = setup()
    response = asyncio.run(get(app, URL + "?wait=" + wait))
    assert (response.status_code, response.json()["status"]) == (422, "invalid_request")


def test_results_carry_an_etag_and_answer_304_to_if_none_match() -> None:
    app, storage = setup()
    storage.put("images", KEY, b"png bytes", "image/png")
    raw = store_result(storage)
    first = asyncio.run(get(app, URL))
    assert first.status_code == 200
    assert first.content == raw  # the stored bytes as they are
    assert first.headers["etag"] == entity_tag(raw)
    assert first.headers["cache-control"] == "private, no-cache"
    again = asyncio.run(get(app, URL, headers={"If-None-Match": first.headers["etag"]}))
    assert (again.status_code, again.content) == (304, b"")
    assert again.headers["etag"] == first.headers["etag"]

    storage.put("images", KEY, b"new bytes", "image/png")  # a new version: not the same
    assert (
        asyncio.run(get(app, URL, headers={"If-None-Match": first.headers["etag"]})).status_code
        == 202
    )
    store_result(storage, status="failed")
    changed = asyncio.run(get(app, URL, headers={"If-None-Match": first.headers["etag"]}))
    assert changed.status_code == 200
    assert changed.headers["etag"] != first.headers["etag"]


def test_bars_carry_an_etag_and_answer_304() -> None:
    app, storage = setup()
    storage.put("palettes", KEY + ".png", b"\x89PNG bar", "image/png")
    bar_url = URL.replace("/palettes/", "/bars/")
    first = asyncio.run(get(app, bar_url))
    assert (first.status_code, first.content) == (200, b"\x89PNG bar")
    assert first.headers["cache-control"] == "private, no-cache"
    tag = first.headers["etag"]
    assert (
        asyncio.run(get(app, bar_url, headers={"If-None-Match": f'"x", W/{tag}'})).status_code
        == 304
    )


@pytest.mark.parametrize(
    ("header", "hit"),
    [
        (None, False),
        ("", False),
        ('"abc"', True),
        ('W/"abc"', True),
        ('"x", "abc"', True),
        ("*", True),
        ('"abcd"', False),
        ("abc", False),
    ],
)
def test_if_none_match_weak_comparison(header: str | None, hit: bool) -> None:
    assert matches(header, '"abc"') is hit


def test_waiters_register_wake_and_forget() -> None:
    waiters = Waiters()

    async def scenario() -> None:
        with waiters.watch("a") as a1, waiters.watch("a") as a2, waiters.watch("b") as b:
            assert len(waiters) == 3
            assert waiters.wake("a") == 2
            assert a1.is_set()
            assert a2.is_set()
            assert not b.is_set()
            assert waiters.wake("nobody") == 0
            waiters.wake_all()
            assert b.is_set()
        assert len(waiters) == 0

    asyncio.run(scenario())
