"""The worker's Prometheus metrics: jobs by outcome, time per stage, bytes read.

Celery's prefork pool runs every job in a child process, and a child's in-memory counter
is lost with it and invisible to the parent. So the worker uses ``prometheus-client``'s
multiprocess mode: every process writes its samples to memory-mapped files in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per worker start unless the variable is
set), and the main process serves the sum of all of them at ``GET /metrics`` on
``PALETTE_METRICS_ADDR:PALETTE_METRICS_PORT``. The mode is chosen when
``prometheus_client`` is first imported, so ``prepare_multiprocess_dir`` runs before it,
at the worker's composition root.

Exposed:
    palette_jobs_total{outcome, code}    outcome done | failed | skipped | retried;
                                         code = error code or skip reason ("" for done)
    palette_job_seconds{stage}           histogram; stage download, decode, cluster,
                                         render, upload
    palette_job_bytes_in_total           source bytes downloaded

Beyond loopback the endpoint answers only ``Authorization: Bearer $PALETTE_API_TOKEN``
(Prometheus: ``authorization: {credentials: ...}`` in the scrape config).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from worker.bearer import ENV_TOKEN, bearer_check, is_loopback

log = logging.getLogger(__name__)

ENV_PORT = "PALETTE_METRICS_PORT"
ENV_ADDR = "PALETTE_METRICS_ADDR"
ENV_DIR = "PROMETHEUS_MULTIPROC_DIR"
DEFAULT_PORT = 9464
DEFAULT_ADDR = "127.0.0.1"

STAGES = ("download", "decode", "cluster", "render", "upload")
STAGE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Seconds: a stage of a typical photo takes 1-10 ms, a 12 MP PNG's decode ~1 s."""


def prepare_multiprocess_dir(env: MutableMapping[str, str]) -> Path:
    """Point ``PROMETHEUS_MULTIPROC_DIR`` at an empty directory; call before the import.

    A directory the operator chose is emptied of a previous run's files (their counts
    would otherwise be added to this run's); otherwise a fresh private one is made.
    """
    chosen = env.get(ENV_DIR)
    if chosen:
        directory = Path(chosen)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink(missing_ok=True)
    else:
        directory = Path(tempfile.mkdtemp(prefix="palette-metrics-"))
        env[ENV_DIR] = str(directory)
    return directory


def remove_multiprocess_dir(directory: Path, env: Mapping[str, str]) -> None:
    """Delete the directory ``prepare_multiprocess_dir`` made (never an operator's)."""
    if directory.name.startswith("palette-metrics-") and env.get(ENV_DIR) == str(directory):
        shutil.rmtree(directory, ignore_errors=True)


class JobMetrics:
    """The job metrics of one process; values land in that process's own files."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Histogram

        # registry=None: in multiprocess mode the files are the registry; the main
        # process reads them all (``serve``).
        self.jobs = Counter(
            "palette_jobs",
            "Jobs finished, by outcome and error code or skip reason.",
            ["outcome", "code"],
            registry=None,
        )
        self.seconds = Histogram(
            "palette_job_seconds",
            "Time spent per job in each stage.",
            ["stage"],
            buckets=STAGE_BUCKETS,
            registry=None,
        )
        self.bytes_in = Counter(
            "palette_job_bytes_in", "Source image bytes downloaded.", registry=None
        )

    def observe(
        self, outcome: str, code: str, timings_ms: Mapping[str, float], bytes_in: int = 0
    ) -> None:
        """Count one finished (or retried) job and the stages it went through."""
        self.jobs.labels(outcome=outcome, code=code).inc()
        for stage in STAGES:
            if stage in timings_ms:
                self.seconds.labels(stage=stage).observe(timings_ms[stage] / 1000)
        if bytes_in:
            self.bytes_in.inc(bytes_in)


def _guarded(app: Any, authorised: Callable[[str | None], bool] | None) -> Any:
    """The WSGI app behind a bearer check (None: open, loopback only)."""

    def guarded(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if authorised is not None and not authorised(environ.get("HTTP_AUTHORIZATION")):
            start_response(
                "401 Unauthorized",
                [("Content-Type", "text/plain"), ("WWW-Authenticate", "Bearer")],
            )
            return [b"unauthorized\n"]
        result: Iterable[bytes] = app(environ, start_response)
        return result

    return guarded


def serve(env: Mapping[str, str], directory: Path) -> Any | None:
    """Serve the sum of every process's metrics in a daemon thread; None when off.

    Never stops the worker: a bad setting or a port in use costs the metrics only,
    and says so in one line.
    """
    raw_port = env.get(ENV_PORT, "") or str(DEFAULT_PORT)
    addr = env.get(ENV_ADDR, "") or DEFAULT_ADDR
    if not raw_port.isdigit() or int(raw_port) > 65535:
        log.warning("metrics off: %s must be a port number, got %r", ENV_PORT, raw_port)
        return None
    port = int(raw_port)
    if port == 0:
        return None
    token = env.get(ENV_TOKEN) or None
    if not is_loopback(addr) and token is None:
        log.warning("metrics off: %s is beyond loopback and %s is unset", addr, ENV_TOKEN)
        return None
    try:
        server = _start(addr, port, directory, None if is_loopback(addr) else bearer_check(token))
    except OSError as exc:
        log.warning("metrics off: cannot listen on %s:%d: %s", addr, port, exc.strerror)
        return None
    log.info("metrics on http://%s:%d/metrics", addr, server.server_port)
    return server


def _start(
    addr: str, port: int, directory: Path, authorised: Callable[[str | None], bool] | None
) -> Any:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app
    from prometheus_client.exposition import ThreadingWSGIServer
    from prometheus_client.multiprocess import MultiProcessCollector

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """Scrapes every 15 s would fill the worker log."""

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))  # type: ignore[no-untyped-call]
    app = _guarded(make_wsgi_app(registry), authorised)
    server = make_server(
        addr, port, app, server_class=ThreadingWSGIServer, handler_class=QuietHandler
    )
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    return server
