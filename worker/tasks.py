"""The palette job as a pipeline of named stages, and its thin Celery wrapper.

``process`` is a plain function of (job, storage, settings): GET the source (existence,
version and bytes in one request) → skip if stale or already current → extract → render
the outputs (``worker.outputs``) → HEAD the source (skip if superseded) → put each file
(the bar PNG) → put the JSON, last. Permanent errors end in a stored failed JSON;
transient errors propagate so the Celery wrapper retries them. Output keys depend only
on the input key, so a redelivered job overwrites, never adds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded

from worker import callbacks, document, freshness, outputs, palette, retries, upload_options
from worker.celery_app import RETRY_BACKOFF_MAX, full_jitter
from worker.config import Settings
from worker.enqueue import Enqueuer
from worker.errors import (
    BrokerUnavailable,
    InternalError,
    InvalidOptions,
    PaletteError,
    PermanentError,
    ProcessingTimeout,
    SourceMissing,
    TransientError,
    WorkerLost,
)
from worker.jobs import (
    REMOVE_TASK_NAME,
    SWEEP_TASK_NAME,
    TASK_NAME,
    Job,
    unsafe_key_reason,
)
from worker.ledger import Attempt, Ledger
from worker.metrics import JobMetrics
from worker.notify import REMOVED, Announcer
from worker.outputs import Output
from worker.palette.options import K
from worker.removal import remove_results
from worker.storage import ObjectInfo, Storage, get_json
from worker.sweep import sweep as sweep_bucket
from worker.timeouts import TIMED_OUT_TASK_NAME

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    """What a job did; the Celery task returns it as a dict for logs and tests."""

    job_id: str
    status: str  # done | failed | skipped
    reason: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)
    """Stages this execution went through (metrics); not part of ``as_dict``."""
    bytes_in: int = field(default=0, compare=False)
    stored: bytes | None = field(default=None, compare=False, repr=False)
    """The result JSON this execution stored, as stored; None when it stored none."""

    def as_dict(self) -> dict[str, str]:
        return {"job_id": self.job_id, "status": self.status, "reason": self.reason}


class _Stopwatch:
    """Wall time (``timings``) and this thread's CPU time (``cpu``) per stage, in ms."""

    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu_start = time.perf_counter(), time.thread_time()
        try:
            yield
        finally:
            self.timings[name] = (time.perf_counter() - start) * 1000
            self.cpu[name] = (time.thread_time() - cpu_start) * 1000


def process(job: Job, storage: Storage, settings: Settings, seen: bool = True) -> Outcome:
    """Run one job to a stored result (or a deliberate skip). Raises only TransientError.

    One GET serves as the existence check, the version check and the download: a HEAD
    first would cost the store a request per image to save a download only for the rare
    stale or duplicate event. The byte limit is enforced from Content-Length before the
    body is read. One HEAD before the writes (``_superseded``) keeps a slow job for an
    older version from replacing a newer version's result.

    ``seen`` (the ledger saw the job before, or cannot tell): only a possible duplicate
    reads the stored result first (``check``); a failure reads it to count attempts.
    """
    reason = unsafe_key_reason(job.key)
    if reason is not None:  # the queue is not trusted: any producer may have sent it
        log.warning("job %s: refused key %r: %s", job.id, job.key, reason)
        return Outcome(job.id, "skipped", "unsafe_key")
    k: K = job.k or settings.default_k
    clock = _Stopwatch()
    source = document.source_ref(job.bucket, job.key, job.etag, job.size)
    info: ObjectInfo | None = None
    existing = None
    try:
        try:
            with clock.stage("download"):
                data, info = storage.fetch(job.bucket, job.key, max_bytes=settings.max_bytes)
        except SourceMissing:
            return Outcome(job.id, "skipped", "source_missing", clock.timings)
        if job.etag and info.etag and job.etag != info.etag:
            return Outcome(job.id, "skipped", "stale_event", clock.timings, len(data))
        asked = upload_options.requested(info.metadata)
        source = document.source_ref(job.bucket, job.key, info.etag, info.size, asked)
        options = upload_options.options_for(info.metadata, k)  # the upload's own, or ours
        k = options.k
        existing = _checked(storage, settings, job, clock) if seen else None
        if (final := _already_final(existing, info, job.k or settings.default_k)) is not None:
            return Outcome(job.id, "skipped", final, clock.timings, len(data))
        result = palette.extract(data, **settings.extract_limits, **asdict(options))
        bar_ref = document.bar_ref(settings.output_bucket, outputs.BAR.key(job.key))
        with clock.stage("render"):
            files = _render(document.done(source, result, bar_ref, clock.timings))
        with clock.stage("head"):
            superseded = _superseded(storage, job, info)
        if superseded is not None:
            return Outcome(job.id, "skipped", superseded, clock.timings, len(data))
        with clock.stage("upload"):  # the files; the JSON cannot time its own write
            _upload(storage, settings.output_bucket, job.key, files)
        doc = document.done(source, result, bar_ref, clock.timings, clock.cpu)
        stored = outputs.PALETTE_JSON.render(doc)
        with clock.stage("upload_json"):
            _upload(storage, settings.output_bucket, job.key, [(outputs.PALETTE_JSON, stored)])
    except PermanentError as error:
        if info is not None and (superseded := _superseded(storage, job, info)) is not None:
            return Outcome(job.id, "skipped", superseded, clock.timings)
        previous = existing if seen else _result_of(storage, settings, job)  # counts attempts
        failed = store_failure(storage, settings, job, source, error, k, clock.timings, previous)
        return Outcome(job.id, "failed", error.code, clock.timings, stored=failed)
    uploads = clock.timings["upload"] + clock.timings["upload_json"]
    timings = {**doc["timings_ms"], "upload": uploads}
    return Outcome(job.id, "done", "", timings, len(data), stored=stored)


def _result_of(storage: Storage, settings: Settings, job: Job) -> dict[str, Any] | None:
    return get_json(storage, settings.output_bucket, outputs.PALETTE_JSON.key(job.key))


def _checked(
    storage: Storage, settings: Settings, job: Job, clock: _Stopwatch
) -> dict[str, Any] | None:
    """The stored result, read before the work (the timed ``check`` stage)."""
    with clock.stage("check"):
        return _result_of(storage, settings, job)


def store_failure(
    storage: Storage,
    settings: Settings,
    job: Job,
    source: dict[str, Any],
    error: PaletteError,
    k: K,
    timings: dict[str, float] | None = None,
    previous: Mapping[str, Any] | None = None,
) -> bytes:
    """Write the failed JSON and return it; the caller decides whether the failure was
    final. Options the upload asked for but that are invalid are not recorded as
    options: ``source.metadata`` shows what was asked. ``previous``, the result stored
    before, counts the attempts (``worker.retries``)."""
    log.info("job %s failed: %s (%s) host=%s", job.id, error.code, error.message, document.host())
    options = {} if isinstance(error, InvalidOptions) else {"k": k}
    tries = retries.next_attempts(previous, source.get("etag"))
    stored = outputs.PALETTE_JSON.render(document.failed(source, error, options, timings, tries))
    _upload(storage, settings.output_bucket, job.key, [(outputs.PALETTE_JSON, stored)])
    return stored


def _render(doc: dict[str, Any]) -> list[tuple[Output, bytes]]:
    """Every file before the JSON (``worker.outputs``), rendered from the done document
    (its timings are not final yet: the JSON is rendered after the uploads)."""
    return [(output, output.render(doc)) for output in outputs.files()]


def _upload(
    storage: Storage, bucket: str, image_key: str, files: list[tuple[Output, bytes]]
) -> None:
    for output, data in files:
        storage.put(bucket, output.key(image_key), data, output.content_type)


def failure_source(
    storage: Storage, settings: Settings, job: Job
) -> tuple[dict[str, Any], K, dict[str, Any] | None] | None:
    """The ``source``, k and previous result of a failure stored without the job's own
    GET (it timed out, lost its worker, ran out of retries): one HEAD supplies the
    metadata, so the failed result records the options the upload asked for and can be
    current for it. None when the object is gone or is no longer the version the job was
    for (writing would replace a newer version's result), or when a current done result
    is already there (a late failure must not replace it). Raises TransientError when
    the store cannot answer."""
    default_k: K = job.k or settings.default_k
    info = storage.head(job.bucket, job.key)
    if info is None or (job.etag is not None and info.etag != job.etag):
        return None
    previous = _result_of(storage, settings, job)
    if _already_final(previous, info, default_k) == "already_done":
        return None
    expected = freshness.expected_options(info.metadata, default_k)
    k = expected["k"] if expected is not None else default_k
    asked = upload_options.requested(info.metadata)
    return document.source_ref(job.bucket, job.key, info.etag, info.size, asked), k, previous


def _already_final(existing: dict[str, Any] | None, info: ObjectInfo, default_k: K) -> str | None:
    """Why the job is a no-op: a current result (``worker.freshness``) that is done
    (``already_done``) or a failure the input caused (``already_failed``: retrying cannot
    change it; a retryable failure is run again). A result of an older worker or other
    options (say after an upgrade that changed the algorithm) is recomputed, even for
    the same bytes. None: run."""
    if existing is None or not freshness.is_current(existing, info.etag, info.metadata, default_k):
        return None
    if existing.get("status") == "done":
        return "already_done"
    return "already_failed" if retries.is_final_failure(existing) else None


def _superseded(storage: Storage, job: Job, fetched: ObjectInfo) -> str | None:
    """Why this job must not write its result: the object changed (or went) since it was
    fetched. One HEAD before the writes, so a slow job for an older version never
    replaces the result of a newer one that finished first; the sweep heals what still
    slips through between this HEAD and the writes. None: write."""
    now = storage.head(job.bucket, job.key)
    if now is None:
        log.info("job %s: %s is gone; result not written", job.id, job.key)
        return "source_missing"
    if now.etag != fetched.etag or upload_options.requested(
        now.metadata
    ) != upload_options.requested(fetched.metadata):
        log.info(
            "job %s superseded: %s is now etag %s (this job read %s); result not written",
            job.id,
            job.key,
            now.etag,
            fetched.etag,
        )
        return "superseded"
    return None


# --- Celery wrapper -----------------------------------------------------------------

MAX_RETRIES = 5
MAX_DELIVERIES = 3
"""A job started this many times without finishing has killed its worker: give up."""


def register(app: Any, settings: Settings, storage_factory: Callable[[], Storage]) -> Any:
    """Register the ``palette.process``, ``palette.remove``, ``palette.sweep`` and
    ``palette.callback`` tasks on ``app`` (on this app only: ``shared=False``) and return
    the process task. Each task is a thin Celery shell over a ``Runner`` method, so what a
    task does reads as plain code; the runner's clients are built per process."""
    runner = Runner(app, settings, storage_factory)

    @app.task(
        name=TASK_NAME,
        bind=True,
        max_retries=MAX_RETRIES,
        shared=False,
        Request="worker.timeouts:TimeLimitRequest",  # a hard time limit still stores a result
    )
    def process_task(self: Any, job: dict[str, Any]) -> dict[str, str]:
        return runner.process(self, job)

    @app.task(name=TIMED_OUT_TASK_NAME, shared=False)
    def timed_out_task(job: dict[str, Any], seconds: float) -> dict[str, str]:
        return runner.timed_out(job, seconds)

    @app.task(
        name=REMOVE_TASK_NAME,
        shared=False,
        autoretry_for=(TransientError,),
        retry_backoff=True,
        retry_backoff_max=RETRY_BACKOFF_MAX,
        retry_jitter=True,
        max_retries=MAX_RETRIES,
    )
    def remove_task(job: dict[str, Any]) -> dict[str, str]:
        return runner.remove(job)

    @app.task(name=SWEEP_TASK_NAME, ignore_result=True, shared=False)
    def sweep_task() -> dict[str, int]:
        return runner.sweep()

    callbacks.register(app, settings, runner.dead_letter)
    return process_task


class Runner:
    """What the registered tasks do, around ``process``: count deliveries, retry or give
    up, store final failures, announce every stored result (``worker.notify``) and, with
    ``PALETTE_CALLBACK_URL``, queue its callback (``worker.callbacks``) after its write
    and never in its way. Clients are built on first use, in the process that runs the
    jobs (a pool child, after the fork), and kept on the instance, not the module."""

    def __init__(
        self, app: Any, settings: Settings, storage_factory: Callable[[], Storage]
    ) -> None:
        self.app = app
        self.settings = settings
        self._storage_factory = storage_factory

    @cached_property
    def storage(self) -> Storage:
        return self._storage_factory()

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger.from_url(self.settings.broker_url)

    @cached_property
    def metrics(self) -> JobMetrics:
        """Built in the process that runs jobs (a pool child), where its files belong."""
        return JobMetrics()

    @cached_property
    def announcer(self) -> Announcer:
        return Announcer(self.ledger.redis, self.settings.output_bucket, enabled=self.settings.push)

    def process(self, task: Any, job: dict[str, Any]) -> dict[str, str]:
        """The ``palette.process`` task. Every execution that ends (not killed, not
        retried) logs exactly one line, ``job <id> done|failed <code>|skipped <reason>``:
        operators and the chaos benchmark count work from it."""
        parsed = Job.from_message(job)
        attempt = self.start_attempt(parsed.id)
        if attempt.starts > MAX_DELIVERIES:
            return self.give_up(parsed, WorkerLost("the image stopped its worker repeatedly"))
        try:
            outcome = process(parsed, self.storage, self.settings, seen=attempt.seen)
        except SoftTimeLimitExceeded:
            return self.give_up(parsed, ProcessingTimeout("processing exceeded the time limit"))
        except TransientError as exc:
            if isinstance(exc.__cause__, SoftTimeLimitExceeded):  # a storage call it cut short
                return self.give_up(parsed, ProcessingTimeout("processing exceeded the time limit"))
            if task.request.retries >= MAX_RETRIES:
                self.dead_letter(job, exc.code)
                return self.give_up(parsed, exc, dead_lettered=True)
            self.finish(parsed.id)
            self.observe(Outcome(parsed.id, "retried", exc.code))
            raise task.retry(exc=exc, countdown=_backoff(task.request.retries)) from exc
        except Exception as exc:  # a bug: the upload still gets a result, and no retry loop
            log.exception("job %s: unexpected %s", parsed.id, type(exc).__name__)
            return self.give_up(parsed, InternalError(f"internal error ({type(exc).__name__})"))
        self.finish(parsed.id)
        self.stored(parsed.key, outcome)
        self.observe(outcome)
        log.info("job %s %s %s host=%s", parsed.id, outcome.status, outcome.reason, document.host())
        return outcome.as_dict()

    def give_up(
        self, parsed: Job, error: PaletteError, dead_lettered: bool = False
    ) -> dict[str, str]:
        """Final failure: store it if storage allows (it may be what failed), else keep the
        job in the dead-letter list; then ack."""
        failed = None
        try:
            if (found := failure_source(self.storage, self.settings, parsed)) is not None:
                source, k, previous = found
                failed = store_failure(
                    self.storage, self.settings, parsed, source, error, k, previous=previous
                )
            else:
                log.info("job %s: %s changed or went; failure not stored", parsed.id, parsed.key)
        except TransientError:
            log.warning("job %s: could not store its failure; it is dead-lettered", parsed.id)
            if not dead_lettered:
                self.dead_letter(parsed.to_message(), error.code)
        self.finish(parsed.id)
        outcome = Outcome(parsed.id, "failed", error.code, stored=failed)
        self.stored(parsed.key, outcome)
        self.observe(outcome)
        log.info("job %s failed %s host=%s", parsed.id, error.code, document.host())
        return outcome.as_dict()

    def timed_out(self, job: dict[str, Any], seconds: float) -> dict[str, str]:
        """The ``palette.timed_out`` task: a job whose process the hard time limit killed
        (``worker.timeouts``) ends as failed ``timeout``."""
        error = ProcessingTimeout(f"processing exceeded the hard time limit ({seconds:g} s)")
        return self.give_up(Job.from_message(job), error)

    def remove(self, job: dict[str, Any]) -> dict[str, str]:
        """The ``palette.remove`` task: an image is gone, its results go too
        (``worker.removal``). What the sweep would find later, done now, so the API stops
        answering for it in seconds."""
        parsed = Job.from_message(job)
        if unsafe_key_reason(parsed.key) is not None:
            return Outcome(parsed.id, "skipped", "unsafe_key").as_dict()
        reason = remove_results(self.storage, self.settings, parsed.key, self.requeue)
        status = "skipped" if reason == "image_exists" else "removed"
        if status == "removed":
            self.announcer.announce(parsed.key, REMOVED)
        log.info("job %s %s %s host=%s", parsed.id, status, reason, document.host())
        return Outcome(parsed.id, status, reason).as_dict()

    def sweep(self) -> dict[str, int]:
        """The ``palette.sweep`` task: recover lost events, enqueue every input object
        without a current result and a removal for every image gone with results left."""
        enqueue = Enqueuer(self.settings, celery=self.app).enqueue
        report = sweep_bucket(self.storage, self.settings, enqueue)
        log.info(
            "sweep: scanned %d, enqueued %d, removals %d",
            report.scanned,
            report.enqueued,
            report.removed,
        )
        return {"scanned": report.scanned, "enqueued": report.enqueued, "removed": report.removed}

    def requeue(self, job: Job) -> None:
        self.app.send_task(job.task_name, kwargs={"job": job.to_message()}, task_id=job.id)

    def start_attempt(self, job_id: str) -> Attempt:
        """Count this start; while Redis is away, count it as the first (no poison image
        is made by a broker outage, and the job must not fail with it) but as seen: with
        no ledger to ask, the job may be a duplicate, so its stored result is read."""
        try:
            return self.ledger.begin(job_id)
        except BrokerUnavailable as exc:
            log.warning("job %s: attempt not counted: %s", job_id, exc.message)
            return Attempt(1, seen=True)

    def finish(self, job_id: str) -> None:
        """Clear the counter and mark the job finished (``Ledger.finish``); if Redis is
        away, the counter expires on its own (ATTEMPTS_TTL_S)."""
        try:
            self.ledger.finish(job_id)
        except BrokerUnavailable as exc:
            log.warning("job %s: attempt counter left to expire: %s", job_id, exc.message)

    def dead_letter(self, job: dict[str, Any], reason: str) -> None:
        try:
            self.ledger.dead_letter(job, reason)
        except BrokerUnavailable as exc:
            log.error("job %s: dead letter lost (%s): %s", job.get("key"), reason, exc.message)

    def stored(self, key: str, outcome: Outcome) -> None:
        """After the last write, outside it: wake the long-polls, queue the callback."""
        if outcome.stored is None:
            return
        self.announcer.announce(key, outcome.status)
        callbacks.send(self.app, self.settings, outcome.stored, key)

    def observe(self, outcome: Outcome) -> None:
        self.metrics.observe(outcome.status, outcome.reason, outcome.timings_ms, outcome.bytes_in)


def _backoff(retries: int) -> float:
    """Exponential backoff with full jitter, capped (the cap bounds the visibility timeout)."""
    return full_jitter(retries, RETRY_BACKOFF_MAX)
