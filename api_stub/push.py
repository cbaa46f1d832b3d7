"""Long-polls woken by the worker's announcements (``worker.notify``), not by polling.

``Waiters`` is the registry of requests waiting on the event loop, key → events;
``ResultFeed`` is one Redis subscription per api_stub process that wakes them. A woken
request re-reads the store once and answers if its result is there; so a stray or
duplicate message costs one read, and a lost one at most the wait. Whenever the
subscription is (re)established every waiter is woken, because announcements made
while it was down are gone.

Cost per waiter: one ``asyncio.Event`` and one entry in a dict; no thread, no socket
of its own (``benchmarks/bench_longpoll.py`` measures 500 at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from worker.notify import RESULTS_CHANNEL, Stored

log = logging.getLogger(__name__)

RECONNECT_S = (0.5, 5.0)
"""First and longest pause between attempts to (re)subscribe; doubled in between."""


class Waiters:
    """Events by key, for requests waiting on one event loop (no locking needed)."""

    def __init__(self) -> None:
        self._events: dict[str, set[asyncio.Event]] = {}

    @contextlib.contextmanager
    def watch(self, key: str) -> Iterator[asyncio.Event]:
        """An event set when ``key``'s result may have changed; registered before the
        caller's first read, so an announcement between that read and the wait counts."""
        event = asyncio.Event()
        self._events.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            waiting = self._events.get(key)
            if waiting is not None:
                waiting.discard(event)
                if not waiting:
                    del self._events[key]

    def wake(self, key: str) -> int:
        """Wake every request waiting on ``key``; returns how many."""
        waiting = self._events.get(key, ())
        for event in waiting:
            event.set()
        return len(waiting)

    def wake_all(self) -> None:
        for waiting in self._events.values():
            for event in waiting:
                event.set()

    def __len__(self) -> int:
        return sum(len(waiting) for waiting in self._events.values())


class ResultFeed:
    """Subscribes to ``palette:results`` and wakes ``waiters`` for ``bucket``'s keys."""

    def __init__(self, redis_url: str, bucket: str, waiters: Waiters) -> None:
        self.redis_url, self.bucket, self.waiters = redis_url, bucket, waiters
        self.subscribed = asyncio.Event()

    async def run(self) -> None:
        """Subscribe and dispatch until cancelled, reconnecting with backoff."""
        pause = RECONNECT_S[0]
        while True:
            try:
                await self._listen()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # redis-py's errors, OSError: Redis is away
                log.warning("result feed lost (%s); retrying in %.1f s", type(exc).__name__, pause)
            self.subscribed.clear()
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_S[1])

    async def _listen(self) -> None:
        from redis import asyncio as aioredis

        client: Any = aioredis.Redis.from_url(
            self.redis_url, socket_connect_timeout=2, health_check_interval=15
        )
        try:
            async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                await pubsub.subscribe(RESULTS_CHANNEL)
                self.subscribed.set()
                self.waiters.wake_all()  # whatever was announced while we were away
                async for message in pubsub.listen():
                    self._dispatch(message)
        finally:
            await client.aclose()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if message.get("type") != "message":
            return
        stored = Stored.decode(message.get("data", b""))
        if stored is not None and stored.bucket == self.bucket:
            self.waiters.wake(stored.key)
