"""Before a worker serves: wait until the broker and the store answer, one line per try.

A worker on another host is often started before, or without, the services it needs
(boot order, a network not yet up, a typo in ``PALETTE_S3_ENDPOINT``). Left to itself it
would start, then fail on its first job (S3) or print Celery's multi-line connection
errors (Redis). Instead it checks both first and, while either is away, logs exactly one
line per attempt naming what is missing and when it tries again, backing off
exponentially up to ``MAX_WAIT_S`` (tenacity), forever: a worker is cheap to leave
waiting, and it starts serving the moment both answer.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_never,
    wait_exponential,
)

from worker.config import Settings
from worker.redact import redact_text, redact_url

log = logging.getLogger(__name__)

FIRST_WAIT_S = 1.0
MAX_WAIT_S = 30.0
PROBE_KEY = ".palette-startup-probe"
"""A key HEADed in the output bucket: a 404 is an answer; only reachability matters."""


class Unreachable(Exception):
    """A dependency did not answer; the message is the one line the operator sees."""


def check_broker(settings: Settings, timeout: float = 2.0) -> None:
    """One PING; any failure (refused, timeout, wrong password) is ``Unreachable``."""
    import redis

    client = redis.Redis.from_url(
        settings.broker_url, socket_timeout=timeout, socket_connect_timeout=timeout
    )
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        where = redact_url(settings.broker_url)
        raise Unreachable(f"Redis at {where}: {_reason(exc)}") from exc
    finally:
        client.close()


def check_storage(settings: Settings) -> None:
    """One HEAD in the output bucket with the worker's own credentials."""
    from worker.storage import make_storage

    storage = make_storage(settings.with_overrides(s3_timeout=min(settings.s3_timeout, 5.0)))
    try:
        storage.head(settings.output_bucket, PROBE_KEY)
    except Exception as exc:
        where = f"{settings.s3_endpoint or 'AWS S3'} (bucket {settings.output_bucket})"
        raise Unreachable(f"S3 at {where}: {_reason(exc)}") from exc
    finally:
        close = getattr(storage, "close", None)
        if close is not None:
            close()


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return redact_text(f"{type(exc).__name__}: {text}" if text else type(exc).__name__)


def _say(state: RetryCallState) -> None:
    """The one line per failed attempt."""
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    wait = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning("worker: cannot reach %s; retrying in %.0f s", error, wait)


def wait_for_dependencies(
    settings: Settings,
    checks: tuple[Callable[[Settings], None], ...] = (check_broker, check_storage),
    *,
    first_wait: float = FIRST_WAIT_S,
    max_wait: float = MAX_WAIT_S,
    sleep: Callable[[float], None] | None = None,
) -> int:
    """Return once every check passes (the number of attempts it took)."""
    options: dict[str, object] = {}
    if sleep is not None:
        options["sleep"] = sleep
    retrying = Retrying(
        retry=retry_if_exception_type(Unreachable),
        wait=wait_exponential(multiplier=first_wait, min=first_wait, max=max_wait),
        stop=stop_never,
        before_sleep=_say,
        reraise=True,
        **options,  # type: ignore[arg-type]
    )
    for attempt in retrying:
        with attempt:
            for check in checks:
                check(settings)
    return retrying.statistics.get("attempt_number", 1)
