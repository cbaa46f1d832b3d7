"""Redis-side bookkeeping the broker does not do for us.

* Attempts per job: with late acknowledgement and reject-on-worker-lost, an image that
  kills its worker would be redelivered for ever; counting starts lets the next
  delivery give up with ``worker_lost`` instead.
* A finished marker per job, kept ``FINISHED_TTL_S`` after its attempts counter is
  deleted: with the counter it tells the worker whether a job may be a duplicate (started
  or finished before), and only then does it read the stored result before the work.
* A dead-letter list: Redis has none, so jobs that exhausted their retries are kept
  here (newest first) for an operator, and ``palette stack status`` shows its length;
  ``palette dead-letters list|replay|purge`` (``worker.dead_letters``) works it off.

redis-py's errors are translated here, once, into ``BrokerUnavailable``: the task treats
bookkeeping as best effort, so a Redis restart does not fail the jobs running through it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from worker.errors import BrokerUnavailable

ATTEMPTS_PREFIX = "palette:attempts:"
DEAD_LETTER_KEY = "palette:dead"
ATTEMPTS_TTL_S = 24 * 3600
FINISHED_PREFIX = "palette:finished:"
FINISHED_TTL_S = 3600
"""Duplicate events (at-least-once delivery, a redelivery after the 180 s visibility
timeout) come within minutes; one later than this is run again and rewrites the same
palette. One small key per job finished in the last hour."""
DEAD_LETTER_MAX = 10_000


class Attempt(NamedTuple):
    starts: int
    """Starts so far, this one included."""
    seen: bool
    """Started or finished before: the job may be a duplicate."""


class Ledger:
    def __init__(self, redis_client: Any) -> None:
        self.redis = redis_client

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        import redis

        return cls(redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5))

    def begin(self, job_id: str) -> Attempt:
        """Count one more start of this job and say whether it ran before, in one round trip."""
        key = ATTEMPTS_PREFIX + job_id
        with _translated():
            pipe = self.redis.pipeline(transaction=False)
            pipe.incr(key)
            pipe.expire(key, ATTEMPTS_TTL_S)
            pipe.exists(FINISHED_PREFIX + job_id)
            count, _, finished = pipe.execute()
        return Attempt(int(count), int(count) > 1 or bool(finished))

    def start_attempt(self, job_id: str) -> int:
        """Count one more start of this job; returns how many starts so far, this one included."""
        return self.begin(job_id).starts

    def finish(self, job_id: str) -> None:
        """The job ended (or is being retried): its counter goes, its finished marker stays."""
        with _translated():
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(ATTEMPTS_PREFIX + job_id)
            pipe.set(FINISHED_PREFIX + job_id, b"1", ex=FINISHED_TTL_S)
            pipe.execute()

    def dead_letter(self, job: dict[str, Any], reason: str) -> None:
        entry = json.dumps({"job": job, "reason": reason, "at": time.time()}, sort_keys=True)
        with _translated():
            pipe = self.redis.pipeline()
            pipe.lpush(DEAD_LETTER_KEY, entry)
            pipe.ltrim(DEAD_LETTER_KEY, 0, DEAD_LETTER_MAX - 1)
            pipe.execute()

    def dead_letters(self, limit: int = 100) -> list[dict[str, Any]]:
        return [entry for _, entry in self.dead_letter_entries(limit)]

    def dead_letter_entries(self, limit: int | None = None) -> list[tuple[bytes, dict[str, Any]]]:
        """(raw, parsed) entries, newest first; ``raw`` names the entry for ``remove``."""
        with _translated():
            raws = self.redis.lrange(DEAD_LETTER_KEY, 0, -1 if limit is None else limit - 1)
        return [(raw, _parsed(raw)) for raw in raws]

    def remove_dead_letter(self, raw: bytes) -> bool:
        """Take one entry off the list; False when another operator already took it."""
        with _translated():
            return bool(self.redis.lrem(DEAD_LETTER_KEY, 1, raw))

    def dead_letter_count(self) -> int:
        return int(self.redis.llen(DEAD_LETTER_KEY))


def _parsed(raw: bytes) -> dict[str, Any]:
    """An entry as written by ``dead_letter``; anything else is shown, never replayed."""
    try:
        entry = json.loads(raw)
    except ValueError:
        return {"job": None, "reason": "unreadable", "at": None}
    return entry if isinstance(entry, dict) else {"job": None, "reason": "unreadable", "at": None}


@contextmanager
def _translated() -> Iterator[None]:
    """redis-py's errors (refused, reset, timed out, loading) as our transient error."""
    import redis

    try:
        yield
    except (redis.RedisError, OSError) as exc:
        raise BrokerUnavailable(f"broker unavailable: {type(exc).__name__}") from exc
