"""The api_stub's Prometheus metrics: events in, jobs out, and the queue behind them.

The api_stub is one process (uvicorn, ``workers=1``), so a plain registry of its own is
enough (no multiprocess mode as in ``worker.metrics``); one per app, so tests and
embedders can build several apps in one process. The queue's length and the dead-letter
count are read from Redis at scrape time (two ``LLEN``), never cached: a scrape sees what
KEDA and ``palette stack status`` see. A Redis that does not answer costs those two
samples only and sets ``palette_broker_up`` to 0; the scrape itself still answers.

Exposed:
    palette_events_received_total{result}   POST /events requests: accepted | unauthorized |
                                            invalid_json | broker_unavailable
    palette_events_enqueued_total{task}     jobs put on the queue: process | remove
    palette_events_ignored_total{reason}    records deliberately ignored, by stable reason
    palette_queue_depth                     messages waiting in the Celery queue's Redis list
    palette_dead_letters                    entries in the dead-letter list
    palette_broker_up                       1 when Redis answered this scrape, else 0

Like the worker's, the endpoint is open on loopback only: when the api_stub listens
beyond loopback, ``GET /metrics`` answers only ``Authorization: Bearer
$PALETTE_API_TOKEN``, like every client route (``api_stub.access``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.jobs import QUEUE_NAME
from worker.ledger import DEAD_LETTER_KEY

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SCRAPE_REDIS_TIMEOUT_S = 1.0
"""A scrape must not hang on a frozen Redis (Prometheus' default scrape timeout is 10 s)."""

ListLengths = Callable[[], tuple[int, int]]
"""Reads (queue depth, dead letters) now; raises when Redis does not answer."""


class ApiMetrics:
    """The counters the event route updates, and the registry ``GET /metrics`` renders."""

    def __init__(self, list_lengths: ListLengths) -> None:
        self.registry = CollectorRegistry()
        self.received = Counter(
            "palette_events_received",
            "POST /events requests, by result.",
            ["result"],
            registry=self.registry,
        )
        self.enqueued = Counter(
            "palette_events_enqueued",
            "Jobs put on the queue from storage events, by task.",
            ["task"],
            registry=self.registry,
        )
        self.ignored = Counter(
            "palette_events_ignored",
            "Event records deliberately ignored, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.registry.register(_QueueCollector(list_lengths))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _QueueCollector(Collector):
    """The Redis-side gauges, read at every scrape."""

    def __init__(self, list_lengths: ListLengths) -> None:
        self.list_lengths = list_lengths

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            depth, dead = self.list_lengths()
        except Exception as exc:  # redis-py's errors, OSError: Redis is away
            log.warning("metrics: queue length unavailable: %s", type(exc).__name__)
            yield GaugeMetricFamily("palette_broker_up", "Redis answered this scrape.", 0)
            return
        yield GaugeMetricFamily("palette_broker_up", "Redis answered this scrape.", 1)
        yield GaugeMetricFamily(
            "palette_queue_depth",
            f"Messages waiting in the Celery queue (LLEN {QUEUE_NAME}).",
            depth,
        )
        yield GaugeMetricFamily(
            "palette_dead_letters", f"Entries in the dead-letter list ({DEAD_LETTER_KEY}).", dead
        )


def redis_list_lengths(broker_url: str) -> ListLengths:
    """LLEN of the queue and the dead letters on the broker, one round trip per scrape.

    The client is made on first use, not here: building the app opens no connection.
    """
    client: list[Any] = []

    def read() -> tuple[int, int]:
        if not client:
            import redis

            client.append(
                redis.Redis.from_url(
                    broker_url,
                    socket_connect_timeout=SCRAPE_REDIS_TIMEOUT_S,
                    socket_timeout=SCRAPE_REDIS_TIMEOUT_S,
                )
            )
        pipe = client[0].pipeline(transaction=False)
        pipe.llen(QUEUE_NAME)
        pipe.llen(DEAD_LETTER_KEY)
        depth, dead = pipe.execute()
        return int(depth), int(dead)

    return read
