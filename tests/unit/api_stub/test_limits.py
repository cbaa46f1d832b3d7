"""Bodies are bounded before any route reads them, declared or chunked (413)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.types import Message

from api_stub.limits import MAX_EVENT_BYTES, MAX_OTHER_BYTES, BodyLimit
from tests.unit.api_stub.test_app import AUTH, client_for


async def chunks(total: int, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """A body of ``total`` bytes sent without Content-Length (chunked)."""
    while total > 0:
        yield b" " * min(size, total)
        total -= size


@pytest.mark.parametrize(
    ("path", "limit", "headers"),
    [("/events", MAX_EVENT_BYTES, AUTH), ("/uploads", MAX_OTHER_BYTES, {})],
)
def test_over_the_limit_is_413_declared_or_chunked(
    path: str, limit: int, headers: dict[str, str]
) -> None:
    client, queue, _ = client_for()
    for content in (b" " * (limit + 1), chunks(limit + 1)):
        response = client.post(path, content=content, headers=headers)
        assert response.status_code == 413
        assert response.json() == {
            "status": "too_large",
            "detail": f"request body over {limit} bytes",
        }
    assert queue.jobs == []


def test_a_chunked_event_under_the_limit_reaches_the_route() -> None:
    client, _, _ = client_for()
    response = client.post("/events", content=chunks(MAX_EVENT_BYTES - 1, 1000), headers=AUTH)
    assert response.status_code == 400  # read whole, then found not to be JSON
    assert response.json()["status"] == "invalid_json"


def test_a_get_with_a_body_is_bounded_too() -> None:
    client, _, _ = client_for()
    response = client.request("GET", "/healthz", content=chunks(MAX_OTHER_BYTES + 1))
    assert response.status_code == 413


def run(app: Any, headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]]) -> Any:
    """Drive the middleware by hand: what it received and what it sent."""
    sent: list[Message] = []
    pending = list(messages)
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/events", "headers": headers}
    asyncio.run(BodyLimit(app)(scope, receive, send))
    return sent, received


def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the route must not run")

    declared = [(b"content-length", str(MAX_EVENT_BYTES + 1).encode())]
    sent, received = run(app, declared, [{"type": "http.request", "body": b"x"}])
    assert sent[0]["status"] == 413
    assert received == 0


def test_a_chunked_body_is_cut_off_at_the_chunk_that_crosses_the_limit() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the route must not run")

    chunk = {"type": "http.request", "body": b" " * (MAX_EVENT_BYTES // 4), "more_body": True}
    sent, received = run(app, [], [dict(chunk) for _ in range(100)])
    assert sent[0]["status"] == 413
    assert received == 5  # four fill the limit exactly, the fifth crosses it


def test_the_route_gets_the_whole_body_once() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(await receive())
        seen.append(await receive())

    parts = [{"type": "http.request", "body": b"ab", "more_body": True}]
    parts.append({"type": "http.request", "body": b"cd", "more_body": False})
    run(app, [], parts)
    assert seen == [
        {"type": "http.request", "body": b"abcd", "more_body": False},
        {"type": "http.disconnect"},
    ]
