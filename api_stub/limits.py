"""Request bodies bounded before any route reads them: a pure ASGI middleware.

Every route's body is at most a few kilobytes (a storage event, an upload request), so
the middleware reads it here, counting, and refuses with 413 as soon as the count passes
the route's limit: a declared ``Content-Length`` over it is refused without reading a
byte, and a chunked body is cut off at the first chunk that crosses it. The route then
gets the buffered body replayed, so no route ever holds more than its limit in memory,
whatever the client sends (``tests/unit/api_stub/test_limits.py`` counts the chunks
read: none for an over-limit declared length, none past the one that crosses the limit).

The 413 has the same shape as every other refusal: ``{"status": "too_large", …}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

KIB = 1024
MAX_EVENT_BYTES = 1024 * KIB
"""A storage event is a few KB; anything near this is not one of ours."""
MAX_OTHER_BYTES = 16 * KIB
"""An upload request is ~200 bytes; every other route takes no body at all."""


def body_limit(path: str) -> int:
    """The largest body ``path`` accepts, in bytes."""
    return MAX_EVENT_BYTES if path == "/events" else MAX_OTHER_BYTES


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Buffers each HTTP request body up to ``limit(path)`` bytes, or answers 413."""

    def __init__(self, app: ASGIApp, limit: Callable[[str], int] = body_limit) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope.get("path", ""))
        try:
            _check_declared(scope, limit)
            body = await _read_bounded(receive, limit)
        except _TooLarge:
            await _refuse(send, limit)
            return
        await self.app(scope, _replay(body, receive), send)


def _check_declared(scope: Scope, limit: int) -> None:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and (not value.isdigit() or int(value) > limit):
            raise _TooLarge


async def _read_bounded(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # a disconnect: the route will see it too
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the real channel (disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _refuse(send: Send, limit: int) -> None:
    payload = {"status": "too_large", "detail": f"request body over {limit} bytes"}
    body = json.dumps(payload).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
