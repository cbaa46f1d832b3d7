"""The api_stub's HTTP surface: storage events in, Celery tasks out, results polled.

``create_app`` is the composition root: settings in, clients built once (never per
request, never at import time), routes bound to them. Status codes are the contract
the object stores rely on: 2xx means "every job of this event is on the queue, or the
event is deliberately ignored", 5xx means "send it again".

    POST /events            200 enqueued/ignored · 400 not JSON · 401 token · 413 · 503 broker
    GET  /palettes/{key}    200 result JSON (ETag) · 304 · 202 pending · 404 no such image
                            · 400 · 503; ``?wait=N`` long-polls up to 30 s (api_stub.push)
    GET  /healthz           200 broker and storage answer · 503 otherwise
    GET  /metrics           Prometheus text (api_stub.metrics)

and the web page with its routes (``GET /``, ``POST /uploads``, ``GET /palettes``,
``GET /bars/{key}``), described in ``api_stub.web``. Beyond loopback, results, bars,
the listing, uploads and metrics answer only ``Authorization: Bearer
$PALETTE_API_TOKEN`` (401 otherwise; ``api_stub.access``).

Hostile input never reaches a route unbounded and never ends in a 500: bodies are capped
before any route reads them (``api_stub.limits``), every refusal is a JSON body whose
``status`` is a stable code, and storage events run on their own threads
(``EVENT_THREADS``), so slow reads of results cannot hold up event intake.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Protocol
from urllib.parse import urlsplit

import anyio
from fastapi import FastAPI, Header, Query, Request, Security
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api_stub.access import ApiAccess, install, unauthorized
from api_stub.caching import NEVER_STORE, cached
from api_stub.events import EventFormatError, Parsed, parse_body
from api_stub.limits import MAX_EVENT_BYTES, BodyLimit
from api_stub.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from api_stub.metrics import ApiMetrics, redis_list_lengths
from api_stub.push import ResultFeed, Waiters
from api_stub.responses import RETRY_AFTER_S, StatusBody, status_response
from api_stub.web import Presigner, add_web_routes, key_parameter
from worker.bearer import bearer_check
from worker.config import Settings
from worker.errors import BrokerUnavailable, SourceMissing, StorageUnavailable
from worker.freshness import is_current
from worker.jobs import Job, unsafe_key_reason
from worker.outputs import PALETTE_JSON
from worker.storage import Storage, make_storage

log = logging.getLogger(__name__)

HEALTH_PROBE_KEY = ".palette-healthz"
"""HEAD of a key that need not exist proves the store answers and accepts our credentials."""

EVENT_THREADS = 8
"""Threads reserved for ``POST /events`` (parse and enqueue). Reads of results use
Starlette's shared pool (40 threads): a burst of slow reads can fill that one, never
this one, so the store's webhook is always answered."""

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


class JobQueue(Protocol):
    """What the app needs from ``worker.enqueue.Enqueuer``."""

    def enqueue(self, job: Job) -> str: ...

    def ping(self) -> bool: ...


class EventsAccepted(BaseModel):
    enqueued: list[str]
    ignored: int
    ignored_reasons: dict[str, int]


class HealthBody(BaseModel):
    status: str
    checks: dict[str, dict[str, Any]]


def create_app(
    settings: Settings,
    storage: Storage | None = None,
    enqueuer: JobQueue | None = None,
    presigner: Presigner | None = None,
    *,
    metrics: ApiMetrics | None = None,
    access: ApiAccess | None = None,
) -> FastAPI:
    """Build the app; real S3, Celery and Redis clients unless the caller passes its own.

    ``access`` says where the server listens and the token it accepts
    (``api_stub.server`` knows); by default, where ``PALETTE_API_URL`` points, without a
    token.
    """
    storage = storage if storage is not None else make_storage(settings)
    enqueuer = enqueuer if enqueuer is not None else _celery_enqueuer(settings)
    metrics = (
        metrics if metrics is not None else ApiMetrics(redis_list_lengths(settings.broker_url))
    )
    if access is None:
        access = ApiAccess(urlsplit(settings.api_url).hostname or "127.0.0.1")
    authorised = bearer_check(settings.webhook_token)
    if settings.webhook_token is None:
        log.warning("PALETTE_WEBHOOK_TOKEN is unset: POST /events rejects every event")

    waiters = Waiters()
    app = FastAPI(
        title="palette-worker api_stub",
        version="1",
        docs_url=None,
        redoc_url=None,
        lifespan=_result_feed(settings, waiters),
    )
    app.state.settings, app.state.storage, app.state.enqueuer = settings, storage, enqueuer
    app.state.waiters, app.state.metrics = waiters, metrics
    app.add_middleware(BodyLimit)
    _add_error_handlers(app)
    install(app)
    _add_event_route(app, settings, enqueuer, authorised, metrics)
    _add_palette_route(app, settings, storage, waiters, access)
    _add_health_route(app, settings, storage, enqueuer)
    _add_metrics_route(app, metrics, access)
    add_web_routes(app, settings, storage, presigner, access)
    return app


def _result_feed(settings: Settings, waiters: Waiters) -> Any:
    """The lifespan: one subscription to the worker's announcements while the app runs
    (``api_stub.push``); long-polls still answer without it, after their N seconds."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        feed = ResultFeed(settings.broker_url, settings.output_bucket, waiters)
        app.state.feed = feed
        task = asyncio.create_task(feed.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return lifespan


def _celery_enqueuer(settings: Settings) -> JobQueue:
    from worker.enqueue import Enqueuer

    return Enqueuer(settings)


class AsciiJSONResponse(JSONResponse):
    """JSON with every non-ASCII character escaped: a refusal may echo the client's
    input, and a lone surrogate in it cannot be encoded as UTF-8 (it would be a 500)."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _add_error_handlers(app: FastAPI) -> None:
    """Framework refusals in our shape: ``status`` is a stable code, ``detail`` says why."""

    async def invalid_request(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, RequestValidationError)
        detail = jsonable_encoder(exc.errors())
        return AsciiJSONResponse({"status": "invalid_request", "detail": detail}, 422)

    async def http_error(request: Request, exc: Exception) -> Any:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        body = {"status": code, "detail": exc.detail}
        return AsciiJSONResponse(body, exc.status_code, headers=exc.headers)

    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(StarletteHTTPException, http_error)


def _add_event_route(
    app: FastAPI,
    settings: Settings,
    enqueuer: JobQueue,
    authorised: Callable[[str | None], bool],
    metrics: ApiMetrics,
) -> None:
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": EventsAccepted, "description": "Every job enqueued; the rest ignored."},
        400: {"model": StatusBody, "description": "The body is not JSON."},
        401: {"model": StatusBody, "description": "Missing or wrong bearer token."},
        413: {"model": StatusBody, "description": f"Body over {MAX_EVENT_BYTES} bytes."},
        503: {"model": StatusBody, "description": "Broker unavailable: send the event again."},
    }
    # Any JSON is accepted: what is not an event of ours is ignored with a 200 (see events).
    any_json = {"description": "S3 Records, SNS/SQS-wrapped Records or a SeaweedFS event."}
    body_doc = {"content": {"application/json": {"schema": any_json}}}
    # Documents the bearer scheme only; the check itself is ``authorised`` (constant time).
    bearer = HTTPBearer(auto_error=False, description="PALETTE_WEBHOOK_TOKEN")
    limiter = anyio.CapacityLimiter(EVENT_THREADS)

    @app.post(
        "/events",
        responses=responses,
        response_model=None,
        dependencies=[Security(bearer)],
        openapi_extra={"requestBody": {"required": True, **body_doc}},
    )
    async def post_events(request: Request) -> Any:
        """Storage event (S3 ``Records`` or SeaweedFS filer) → one task per new object."""
        if not authorised(request.headers.get("authorization")):
            metrics.received.labels(result="unauthorized").inc()
            return unauthorized()
        body = await request.body()  # at most MAX_EVENT_BYTES: BodyLimit read it
        return await anyio.to_thread.run_sync(
            _accept, enqueuer, body, settings.input_bucket, metrics, limiter=limiter
        )


def _accept(enqueuer: JobQueue, body: bytes, input_bucket: str, metrics: ApiMetrics) -> Any:
    """Parse (a 1 MiB event is milliseconds of CPU: off the event loop), then enqueue."""
    try:
        parsed = parse_body(body, input_bucket)
    except EventFormatError as exc:
        metrics.received.labels(result="invalid_json").inc()
        return status_response(400, "invalid_json", detail=str(exc))
    return _enqueue_all(enqueuer, parsed, metrics)


def _enqueue_all(enqueuer: JobQueue, parsed: Parsed, metrics: ApiMetrics) -> Any:
    """Enqueue in order; the first broker failure turns the whole event into a 503.

    Ignored records are counted only when the event is accepted: a 503 makes the store
    send them again."""
    enqueued: list[str] = []
    for job in parsed.jobs:
        try:
            enqueued.append(enqueuer.enqueue(job))
        except BrokerUnavailable as exc:
            log.warning("event not accepted, broker unavailable: %s", exc)
            metrics.received.labels(result="broker_unavailable").inc()
            return status_response(
                503, "broker_unavailable", {"Retry-After": RETRY_AFTER_S}, enqueued=enqueued
            )
        metrics.enqueued.labels(task=job.action).inc()
    metrics.received.labels(result="accepted").inc()
    for reason, count in parsed.reasons().items():
        metrics.ignored.labels(reason=reason).inc(count)
    if enqueued:
        log.info("enqueued %d job(s), ignored %d", len(enqueued), len(parsed.ignored))
    elif parsed.ignored:
        log.debug("ignored %s", parsed.reasons())
    reasons = parsed.reasons()
    return JSONResponse(
        {"enqueued": enqueued, "ignored": len(parsed.ignored), "ignored_reasons": reasons}
    )


MAX_WAIT_S = 30.0
"""The longest long-poll: under the idle time-outs of common proxies and load balancers."""
WAIT_DOC = (
    f"Seconds (at most {MAX_WAIT_S:g}) to wait for the result while it is pending: the "
    "answer comes the moment the worker stores it, else 202 once they have passed."
)


def _add_palette_route(
    app: FastAPI, settings: Settings, storage: Storage, waiters: Waiters, access: ApiAccess
) -> None:
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The stored palette JSON (schema_version 1), done or failed; "
            "with ETag and Cache-Control.",
            "content": {"application/json": {}},
        },
        202: {"model": StatusBody, "description": "The image exists; its result is not ready."},
        304: {"description": "If-None-Match names the current result: the client has it."},
        400: {"model": StatusBody, "description": "A key that can never name an image."},
        404: {"model": StatusBody, "description": "No such image in the input bucket."},
        503: {"model": StatusBody, "description": "Storage unavailable."},
        **access.responses(),
    }

    @app.get(
        "/palettes/{key:path}",
        responses=responses,
        response_model=None,
        dependencies=access.dependencies(),
    )
    async def get_palette(
        key: Annotated[str, key_parameter()],
        wait: Annotated[float, Query(ge=0, le=MAX_WAIT_S, description=WAIT_DOC)] = 0,
        if_none_match: Annotated[str | None, Header()] = None,
    ) -> Any:
        """The result for ``s3://<input>/<key>``, as stored in ``<output>/<key>.json``."""
        reason = unsafe_key_reason(key)
        if reason is not None:
            return status_response(400, "invalid_key", key=key, detail=reason)

        def read() -> Response:
            try:
                return _palette_response(storage, settings, key, if_none_match)
            except StorageUnavailable:
                return status_response(
                    503, "storage_unavailable", {"Retry-After": RETRY_AFTER_S}, key=key
                )

        if wait <= 0:
            return await anyio.to_thread.run_sync(read)
        return await _long_poll(waiters, key, read, wait)


async def _long_poll(
    waiters: Waiters, key: str, read: Callable[[], Response], wait: float
) -> Response:
    """Read; while pending, sleep until the worker announces this key (or ``wait`` ends)
    and read again. Registered before the first read, so no announcement falls between."""
    with waiters.watch(key) as announced, anyio.move_on_after(wait):
        while True:
            announced.clear()
            response = await anyio.to_thread.run_sync(read)
            if response.status_code != 202:
                return response
            await announced.wait()
    return _pending(key, retry_after="0")


def _palette_response(
    storage: Storage, settings: Settings, key: str, if_none_match: str | None
) -> Response:
    """200 (or 304) with the stored bytes when the result is current for the image
    (``worker.freshness``: its ETag and options, from this HEAD, and the worker version),
    202 while the image has no such result, 404 when there is no image (whatever results
    it left: they are being removed)."""
    image = storage.head(settings.input_bucket, key)
    if image is None:
        return status_response(404, "not_found", {"Cache-Control": NEVER_STORE}, key=key)
    raw = _stored(storage, settings.output_bucket, PALETTE_JSON.key(key))
    document = _json_object(raw)
    current = is_current(document, image.etag, image.metadata, settings.default_k)
    if raw is not None and current:
        return cached(raw, "application/json", if_none_match)
    return _pending(key)


def _pending(key: str, retry_after: str = "1") -> Response:
    headers = {"Retry-After": retry_after, "Cache-Control": NEVER_STORE}
    response: Response = status_response(202, "pending", headers, key=key)
    return response


def _stored(storage: Storage, bucket: str, key: str) -> bytes | None:
    try:
        return storage.get(bucket, key)
    except SourceMissing:
        return None


def _json_object(raw: bytes | None) -> dict[str, Any] | None:
    try:
        loaded = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return loaded if isinstance(loaded, dict) else None


def _add_health_route(
    app: FastAPI, settings: Settings, storage: Storage, enqueuer: JobQueue
) -> None:
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": HealthBody, "description": "Broker and storage answer."},
        503: {"model": HealthBody, "description": "At least one dependency does not."},
    }

    @app.get("/healthz", responses=responses, response_model=None)
    def healthz() -> Any:
        """Readiness: can we enqueue, and can we read the buckets?"""
        checks = {
            "broker": _timed(enqueuer.ping),
            "storage": _timed(lambda: _storage_answers(storage, settings.input_bucket)),
        }
        healthy = all(check["ok"] for check in checks.values())
        body = {"status": "ok" if healthy else "unavailable", "checks": checks}
        return JSONResponse(body, status_code=200 if healthy else 503)


def _add_metrics_route(app: FastAPI, metrics: ApiMetrics, access: ApiAccess) -> None:
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "Prometheus text exposition format.",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        **access.responses(),
    }

    @app.get(
        "/metrics",
        responses=responses,
        response_model=None,
        dependencies=access.dependencies(),
    )
    def get_metrics() -> Any:
        """Events in, jobs out, queue depth and dead letters (read from Redis now)."""
        return Response(metrics.render(), media_type=METRICS_CONTENT_TYPE)


def _storage_answers(storage: Storage, bucket: str) -> bool:
    try:
        storage.head(bucket, HEALTH_PROBE_KEY)
    except StorageUnavailable:
        return False
    return True


def _timed(probe: Callable[[], bool]) -> dict[str, Any]:
    """Run one probe; any exception counts as down (its type only: no secrets in replies)."""
    started = time.perf_counter()
    try:
        ok, error = bool(probe()), None
    except Exception as exc:
        ok, error = False, type(exc).__name__
    result: dict[str, Any] = {"ok": ok, "ms": round((time.perf_counter() - started) * 1000, 1)}
    if error is not None:
        result["error"] = error
    return result
