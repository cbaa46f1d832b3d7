"""Which stored failures are tried again, and when: pure rules shared by the worker and
the sweep.

A failure is retryable when the world was at fault, not the input
(``PaletteError.retryable``: ``timeout``, ``worker_lost``, ``storage_unavailable``,
``broker_unavailable``); its result records ``error.retryable`` and ``error.attempts``,
how many executions for this version of the object ended in a stored failure. The sweep
enqueues a current retryable failure again once ``PALETTE_FAILURE_RETRY_AFTER`` seconds,
doubled per further attempt, passed since it was stored, until ``attempts`` reaches
``PALETTE_FAILURE_ATTEMPTS``; then it stays failed, visibly. A current failure that is not
retryable is final: the input itself is at fault, and a duplicate job for it is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from worker.jobs import normalise_etag


@dataclass(frozen=True)
class RetryPolicy:
    """The sweep's retry settings (``Settings.failure_retry_s``, ``failure_attempts``)."""

    after_s: float = 60.0
    attempts: int = 3

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure: after_s, 2x, 4x, ..."""
        return self.after_s * 2.0 ** max(attempts - 1, 0)


def attempts(result: Mapping[str, Any]) -> int:
    """``error.attempts`` of a failed result; 1 for results that predate the field."""
    value = _error(result).get("attempts", 1)
    return value if isinstance(value, int) and value >= 1 else 1


def next_attempts(previous: Mapping[str, Any] | None, etag: str | None) -> int:
    """The ``attempts`` of a failure about to be stored for the object version ``etag``:
    one more than the failure stored for the same version before it, else 1."""
    if not isinstance(previous, Mapping) or previous.get("status") != "failed":
        return 1
    source = previous.get("source")
    recorded = source.get("etag") if isinstance(source, Mapping) else None
    same = isinstance(recorded, str) and normalise_etag(recorded) == normalise_etag(etag)
    return attempts(previous) + 1 if same and etag else 1


def is_final_failure(result: Mapping[str, Any] | None) -> bool:
    """A failed result the input itself caused: retrying cannot change it."""
    return (
        isinstance(result, Mapping)
        and result.get("status") == "failed"
        and _error(result).get("retryable") is not True
    )


def due(result: Mapping[str, Any], now: float, policy: RetryPolicy) -> bool:
    """A (current) result the sweep should enqueue again now: a retryable failure under
    the attempt bound whose back-off has passed. A result whose time cannot be read is
    due: retrying rewrites it with one."""
    if result.get("status") != "failed" or _error(result).get("retryable") is not True:
        return False
    tries = attempts(result)
    if tries >= policy.attempts:
        return False
    stored = _timestamp(result.get("created_at"))
    return stored is None or now - stored >= policy.delay(tries)


def _timestamp(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC).timestamp()


def _error(result: Mapping[str, Any]) -> Mapping[str, Any]:
    error = result.get("error")
    return error if isinstance(error, Mapping) else {}
