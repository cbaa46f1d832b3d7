"""Results announced the moment they are stored: Redis pub/sub from the worker's last write.

::

    channel  palette:results
    message  {"bucket": "<output bucket>", "key": "<image key>", "status": "done|failed|removed"}

The api_stub subscribes once per process and wakes the long-polls waiting for that key
(``api_stub.push``); nobody polls the store. Pub/sub is at-most-once, and that is
enough here: a lost message only makes a long-poll wait out its N seconds and answer
202 (the client asks again), and the api_stub wakes every waiter whenever it
(re)subscribes, so results stored while it was cut off are found at once. So the worker
publishes best effort: a Redis error is logged, never a failed or delayed job. Channels
ignore Redis database numbers, so the bucket in the message keeps deployments that
share a Redis server apart.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

RESULTS_CHANNEL = "palette:results"
DONE, FAILED, REMOVED = "done", "failed", "removed"


@dataclass(frozen=True)
class Stored:
    """One announcement: the result of ``key`` in ``bucket`` was stored (or removed)."""

    bucket: str
    key: str
    status: str

    def encode(self) -> bytes:
        return json.dumps(
            {"bucket": self.bucket, "key": self.key, "status": self.status}, ensure_ascii=False
        ).encode("utf-8")

    @classmethod
    def decode(cls, raw: bytes | str) -> Stored | None:
        """The announcement in ``raw``, or None for anything that is not one of ours."""
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(data, dict):
            return None
        bucket, key, status = data.get("bucket"), data.get("key"), data.get("status")
        if not (isinstance(bucket, str) and isinstance(key, str) and isinstance(status, str)):
            return None
        return cls(bucket, key, status)


class Announcer:
    """Publishes ``Stored`` messages for one output bucket; never raises."""

    def __init__(self, redis_client: Any, bucket: str, enabled: bool = True) -> None:
        self.redis, self.bucket, self.enabled = redis_client, bucket, enabled

    def announce(self, key: str, status: str) -> None:
        if not self.enabled:
            return
        try:
            self.redis.publish(RESULTS_CHANNEL, Stored(self.bucket, key, status).encode())
        except Exception as exc:  # redis-py's errors, OSError: a long-poll waits it out
            log.warning("result of %r not announced: %s", key, type(exc).__name__)
