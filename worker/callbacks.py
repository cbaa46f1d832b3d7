"""Signed completion callbacks: every stored result POSTed to ``PALETTE_CALLBACK_URL``.

The palette job never waits for the receiver: once its JSON is stored it puts one
``palette.callback`` message (the stored bytes) on a queue of its own,
``palette-callbacks``, and moves on. A separate worker consumes that queue
(``palette worker --callbacks``: threads, since delivery is waiting on sockets), so a
slow or dead receiver holds up deliveries, never palettes.

Each delivery is one POST of the result JSON, exactly as stored, with::

    Content-Type: application/json
    Palette-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
    Palette-Delivery: <id, the same for every attempt at one stored result>

signed afresh at each attempt (``worker.signing``). Any 2xx is success. Anything else, a
connection error or a time-out is retried by Celery (acks late: at least once), with
exponential backoff and jitter, ``MAX_ATTEMPTS`` attempts over about five minutes;
then the delivery goes to the dead-letter list with reason ``callback_failed``, where
``palette dead-letters`` shows it. Receivers should de-duplicate on ``Palette-Delivery``.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from worker import __version__
from worker.config import Settings
from worker.signing import HEADER, sign

log = logging.getLogger(__name__)

CALLBACK_TASK_NAME = "palette.callback"
CALLBACK_QUEUE = "palette-callbacks"
DELIVERY_HEADER = "Palette-Delivery"
MAX_ATTEMPTS = 8
"""1 + 7 retries at 2, 4, 8, 16, 32, 60, 60 s (full jitter): about 3 minutes at most."""
BACKOFF_MAX_S = 60
"""Under the broker's visibility timeout: a waiting retry holds its message unacknowledged."""
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
DEAD_LETTER_REASON = "callback_failed"


class CallbackFailed(Exception):
    """One attempt did not end in a 2xx; the message says why (no secrets in it)."""


def delivery_id(body: bytes) -> str:
    """Stable across attempts, distinct per stored result (its bytes carry created_at)."""
    return hashlib.sha256(body).hexdigest()[:32]


def post(client: Any, url: str, secret: str, body: bytes) -> int:
    """One signed POST with ``client`` (an ``httpx.Client``); returns the 2xx status or
    raises ``CallbackFailed``."""
    import httpx

    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"palette-worker/{__version__}",
        HEADER: sign(secret, body),
        DELIVERY_HEADER: delivery_id(body),
    }
    try:
        response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:  # connect/read time-outs, refused, reset, TLS
        raise CallbackFailed(type(exc).__name__) from exc
    if not 200 <= response.status_code < 300:
        raise CallbackFailed(f"HTTP {response.status_code}")
    return int(response.status_code)


def http_client() -> Any:
    import httpx

    timeout = httpx.Timeout(READ_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)
    return httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False)


def send(app: Any, settings: Settings, body: bytes, key: str) -> None:
    """Queue the delivery of one stored result, if callbacks are configured; never
    raises (a broker outage at this instant loses this one callback, and says so)."""
    if not settings.callback_url:
        return
    try:
        app.send_task(
            CALLBACK_TASK_NAME,
            kwargs={"body": body.decode("utf-8"), "key": key},
            queue=CALLBACK_QUEUE,
            retry=True,
            retry_policy={"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5},
        )
    except Exception as exc:
        log.error("callback for %r not queued: %s", key, type(exc).__name__)


def register(app: Any, settings: Settings, dead_letter: Any) -> Any:
    """The ``palette.callback`` task on ``app``; ``dead_letter(entry, reason)`` keeps a
    delivery that ran out of attempts."""
    clients: dict[str, Any] = {}

    def client() -> Any:
        if "http" not in clients:
            clients["http"] = http_client()
        return clients["http"]

    @app.task(
        name=CALLBACK_TASK_NAME,
        bind=True,
        shared=False,
        max_retries=MAX_ATTEMPTS - 1,
        acks_late=True,
        ignore_result=True,
    )
    def deliver(self: Any, body: str, key: str = "") -> dict[str, Any]:
        from worker.celery_app import full_jitter

        url, secret = settings.callback_url, settings.callback_secret
        if not url or not secret:  # configuration changed since it was queued
            log.warning("callback for %r dropped: PALETTE_CALLBACK_URL is unset", key)
            return {"key": key, "status": "dropped"}
        attempt = self.request.retries + 1
        try:
            status = post(client(), url, secret, body.encode("utf-8"))
        except CallbackFailed as exc:
            if attempt >= MAX_ATTEMPTS:
                log.error("callback for %r failed %d times (%s): dead-lettered", key, attempt, exc)
                entry = {"task": CALLBACK_TASK_NAME, "key": key, "body": body}
                dead_letter(entry, DEAD_LETTER_REASON)
                return {"key": key, "status": "dead", "reason": str(exc)}
            log.info("callback for %r: attempt %d failed (%s)", key, attempt, exc)
            countdown = full_jitter(self.request.retries, BACKOFF_MAX_S)
            raise self.retry(countdown=countdown) from exc
        log.info("callback for %r delivered (HTTP %d, attempt %d)", key, status, attempt)
        return {"key": key, "status": "delivered", "attempts": attempt}

    return deliver
