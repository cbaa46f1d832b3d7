"""The stack's components: how each is started, where it answers, how we know it is up.

Adding a process (the periodic sweeper, a second worker pool) means adding one
``Component`` to ``managed()``; ``infra.stack`` starts, waits for, reports and stops
whatever that list holds, in its order (and stops them in reverse).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra import broker, seaweed
from infra.processes import is_alive
from infra.state import StackState
from worker.config import Settings
from worker.redact import redact_url
from worker.storage import s3_client

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""Put on the children's PYTHONPATH so ``-m worker`` works from a plain checkout too."""

_READY = re.compile(rb"\bready\b")
_READY_SCAN_BYTES = 1 << 20

_FOREIGN_AWS = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
)
"""A user's real-AWS settings would sign requests to our local S3 wrongly; drop them."""


@dataclass(frozen=True)
class Component:
    """One managed process.

    ``ready`` is what ``up`` waits for and may finish set-up (SeaweedFS creates the
    buckets); ``healthy`` is the side-effect-free check ``status`` runs.
    """

    name: str
    command: Callable[[StackState], list[str]]
    endpoint: Callable[[StackState], str]
    healthy: Callable[[StackState], bool]
    ready: Callable[[StackState], bool]
    cwd: Callable[[StackState], Path]
    prepare: Callable[[StackState], None] = lambda state: None
    port_key: str | None = None
    """The port this component binds; it must be free before the component starts."""
    host: Callable[[StackState], str] = lambda state: state.bind
    """The address it binds that port on (SeaweedFS: always loopback)."""
    wait_before_next: bool = False
    """Later components need this one answering before they start (the broker)."""


def process_env(state: StackState, base: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment plus the stack's settings, as every component sees it."""
    env = {k: v for k, v in base.items() if k not in _FOREIGN_AWS}
    env.update(state.client_env())
    env["PALETTE_API_BIND"] = f"{state.bind}:{state.ports['api']}"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), base.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"  # logs reach the file as they happen; "ready" is read there
    return env


# --- redis ------------------------------------------------------------------------------


def _redis_dir(state: StackState) -> Path:
    return state.stack_dir / "redis"


def _redis_config(state: StackState) -> Path:
    return _redis_dir(state) / "redis.conf"


def _prepare_redis(state: StackState) -> None:
    """On the stack's address, with a password wherever that is (from the URL
    ``_choose_broker`` made): beyond loopback, anyone who reaches it could otherwise
    read and write the queue."""
    _redis_dir(state).mkdir(mode=0o700, exist_ok=True)
    password = broker.url_password(state.broker_url) or state.redis_password
    broker.write_config(_redis_config(state), password=password, bind=state.bind)


def _redis_ok(state: StackState) -> bool:
    return broker.ping(state.broker_url)


REDIS = Component(
    name="redis",
    command=lambda s: broker.command(
        _redis_config(s), broker.url_port(s.broker_url), _redis_dir(s)
    ),
    endpoint=lambda s: redact_url(s.broker_url),
    healthy=_redis_ok,
    ready=_redis_ok,
    cwd=_redis_dir,
    prepare=_prepare_redis,
    port_key="redis",
    wait_before_next=True,
)


# --- seaweedfs --------------------------------------------------------------------------


def seaweed_conf_dir(state: StackState) -> Path:
    return state.stack_dir / "seaweedfs-conf"


def _prepare_seaweed(state: StackState) -> None:
    assert state.data_dir is not None
    state.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    (state.logs_dir / "weed").mkdir(mode=0o700, exist_ok=True)
    seaweed.write_config_dir(
        seaweed_conf_dir(state),
        endpoint=state.api_url + "/events",
        token=state.webhook_token,
        input_bucket=state.input_bucket,
    )


def _buckets(state: StackState) -> list[str]:
    return [state.input_bucket, state.output_bucket]


def _s3_check(state: StackState, *, create: bool) -> bool:
    """S3 answers, our credentials work and both buckets exist (created if ``create``)."""
    if not seaweed.s3_answers(weed_s3_port(state), host=seaweed.LOOPBACK):
        return False
    # short and retried once: start-up checks must not hang
    client = s3_client(_settings(state, _loopback_s3(state)), timeout=5, attempts=2)
    try:
        if create:
            with contextlib.suppress(Exception):  # the filer may need a moment more
                seaweed.ensure_buckets(client, _buckets(state))
        return seaweed.buckets_ready(client, _buckets(state))
    finally:
        client.close()  # no socket left for the garbage collector


def _settings(state: StackState, endpoint: str) -> Settings:
    """What a client of this stack's S3 at ``endpoint`` needs: credentials, region."""
    return Settings(
        s3_endpoint=endpoint,
        access_key=state.access_key,
        secret_key=state.secret_key,
        region=state.region,
    )


def weed_s3_port(state: StackState) -> int:
    """SeaweedFS's own S3 port: the stack's S3 port, unless the relay serves that one
    (``weed_s3`` then; a stack started before the relay existed has no such key)."""
    return state.ports.get("weed_s3", state.ports["s3"])


def weed_ports(state: StackState) -> dict[str, int]:
    """The ports ``weed mini`` is given (``seaweed.command``): its S3 is ``weed_s3``."""
    return {**state.ports, "s3": weed_s3_port(state)}


def _loopback_s3(state: StackState) -> str:
    return f"http://{seaweed.LOOPBACK}:{weed_s3_port(state)}"


SEAWEEDFS = Component(
    name="seaweedfs",
    command=lambda s: seaweed.command(
        s.data_dir or s.stack_dir / "seaweedfs", weed_ports(s), s.run_dir, s.logs_dir / "weed"
    ),
    endpoint=_loopback_s3,
    healthy=lambda s: _s3_check(s, create=False),
    ready=lambda s: _s3_check(s, create=True),
    cwd=seaweed_conf_dir,
    prepare=_prepare_seaweed,
    port_key="weed_s3",
    host=lambda s: seaweed.LOOPBACK,
)


# --- s3_relay ---------------------------------------------------------------------------


def _relay_ok(state: StackState) -> bool:
    """The gateway answers through the relay on the stack's address."""
    alive = is_alive(state.procs.get("s3_relay"))
    return alive and seaweed.s3_answers(state.ports["s3"], host=state.bind)


S3_RELAY = Component(
    name="s3_relay",
    command=lambda s: [
        *[sys.executable, "-m", "infra.relay"],
        *[f"{s.bind}:{s.ports['s3']}", f"{seaweed.LOOPBACK}:{weed_s3_port(s)}"],
    ],
    endpoint=lambda s: s.s3_endpoint,
    healthy=_relay_ok,
    ready=_relay_ok,
    cwd=lambda s: s.stack_dir,
    port_key="s3",
)
"""S3 on the stack's address when that is not 127.0.0.1: SeaweedFS itself never is."""


# --- api_stub ---------------------------------------------------------------------------


def http_status(url_base: str, path: str, timeout: float = 1.0) -> int | None:
    """Status of a GET, or None when nothing answers."""
    host_port = url_base.split("://", 1)[-1].rstrip("/")
    host, _, port = host_port.partition(":")
    conn = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status
    except OSError:
        return None
    finally:
        conn.close()


def _api_ok(state: StackState) -> bool:
    return http_status(state.api_url, "/healthz") == 200


API_STUB = Component(
    name="api_stub",
    command=lambda s: [sys.executable, "-m", "api_stub"],
    endpoint=lambda s: s.api_url,
    healthy=_api_ok,
    ready=_api_ok,
    cwd=lambda s: s.stack_dir,
    port_key="api",
)


# --- worker -----------------------------------------------------------------------------


def logged_ready(log_path: Path, pattern: re.Pattern[bytes] = _READY) -> bool:
    """The log of this start says "ready" (Celery: ``celery@host ready.``).

    ``celery inspect ping`` would take a second or more per call; the log is rotated at
    each start, so a "ready" in it belongs to the running process.
    """
    try:
        with log_path.open("rb") as fh:
            return pattern.search(fh.read(_READY_SCAN_BYTES)) is not None
    except FileNotFoundError:
        return False


def _worker_ok(state: StackState) -> bool:
    return is_alive(state.procs.get("worker")) and logged_ready(state.log_path("worker"))


def _worker_command(state: StackState) -> list[str]:
    command = [sys.executable, "-m", "worker", "--concurrency", str(state.workers)]
    return [*command, "--beat"] if state.beat else command


WORKER = Component(
    name="worker",
    command=_worker_command,
    endpoint=lambda s: redact_url(s.broker_url),
    healthy=_worker_ok,
    ready=_worker_ok,
    cwd=lambda s: s.stack_dir,
)


_BEAT_STARTED = re.compile(rb"beat: Starting")


def _beat_ok(state: StackState) -> bool:
    """Alive and past start-up ("beat: Starting...": it then holds the lock or waits)."""
    alive = is_alive(state.procs.get("beat"))
    return alive and logged_ready(state.log_path("beat"), _BEAT_STARTED)


BEAT = Component(
    name="beat",
    command=lambda s: [sys.executable, "-m", "worker.beat"],
    endpoint=lambda s: redact_url(s.broker_url),
    healthy=_beat_ok,
    ready=_beat_ok,
    cwd=lambda s: s.stack_dir,
)
"""The one scheduler, as a process of its own when no local worker runs to embed it."""


CALLBACK_THREADS = 16
"""Deliveries in flight at once: each mostly waits on a socket, so threads, not processes."""


def _callbacks_ok(state: StackState) -> bool:
    return is_alive(state.procs.get("callbacks")) and logged_ready(state.log_path("callbacks"))


CALLBACKS = Component(
    name="callbacks",
    command=lambda s: [
        *[sys.executable, "-m", "worker", "--callbacks", "--pool", "threads"],
        *["--concurrency", str(CALLBACK_THREADS), "--hostname", "callbacks@%h"],
    ],
    endpoint=lambda s: redact_url(s.broker_url),
    healthy=_callbacks_ok,
    ready=_callbacks_ok,
    cwd=lambda s: s.stack_dir,
)


def managed(state: StackState) -> list[Component]:
    """The components this stack runs, in start order (Redis only when it is ours; the
    S3 relay only when the services are on an address other than 127.0.0.1; the
    callback worker only when ``PALETTE_CALLBACK_URL`` was set at ``up``; with no local
    worker, ``--workers 0``, beat runs on its own)."""
    own_broker = [REDIS] if state.broker_managed else []
    relay = [S3_RELAY] if state.bind != seaweed.LOOPBACK else []
    callbacks = [CALLBACKS] if state.callbacks else []
    alone = [BEAT] if state.beat else []
    workers = [WORKER] if state.workers else alone
    return [*own_broker, SEAWEEDFS, *relay, API_STUB, *workers, *callbacks]
