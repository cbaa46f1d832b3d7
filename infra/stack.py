"""The whole pipeline as local background processes (``palette stack``, in ``infra.cli``).

SeaweedFS (S3 + filer webhook) → api_stub (``POST /events``) → Redis → Celery worker,
each a detached process with its log in ``<stack_dir>/logs`` and its pid in
``<stack_dir>/run``; ports, credentials and pids in ``<stack_dir>/stack.json`` (0600).

``up`` is idempotent: what runs is reused as it is (settings change after ``down``),
stale pid records are dropped, and it returns only once every component answers, or
fails with the log tail of the one that did not. The stack directory is
``$PALETTE_STACK_DIR``, else ``~/.local/state/palette-worker``.

Environment read by ``up`` (besides worker.config's own variables, passed through):
``PALETTE_STACK_DIR``, ``PALETTE_STACK_DATA_DIR`` (SeaweedFS data; default
``<stack_dir>/seaweedfs``), ``PALETTE_STACK_S3_PORT`` (8333), ``PALETTE_STACK_API_PORT``
(8080), ``PALETTE_STACK_ACCESS_KEY``/``PALETTE_STACK_SECRET_KEY`` (default: generated
once per stack dir), ``PALETTE_BROKER_URL`` (used as is when a Redis answers there).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra import broker
from infra.components import Component, managed, process_env
from infra.processes import (
    Proc,
    StackError,
    is_alive,
    log_tail,
    pick_port_pair,
    port_free,
    remove_pidfile,
    rotate_log,
    spawn,
    stop_all,
    write_pidfile,
)
from infra.seaweed import GRPC_OFFSET, LOOPBACK, WEED_METRICS, WEED_PORTS
from infra.state import (
    DEFAULT_API_PORT,
    DEFAULT_S3_PORT,
    ENV_API_PORT,
    ENV_DATA_DIR,
    ENV_S3_PORT,
    StackState,
    default_stack_dir,
    load,
    locked,
    new_state,
    prepare_dir,
)
from worker.redact import redact_url

__all__ = [
    "ComponentStatus",
    "StackError",
    "StackUnhealthy",
    "client_env",
    "default_stack_dir",
    "down",
    "env",
    "status",
    "up",
]

DEFAULT_TIMEOUT = 90.0
ANY_ADDRESS = "0.0.0.0"
"""SeaweedFS's ports are checked free here: ``weed mini`` refuses one taken anywhere."""
STOP_TIMEOUT = 15.0
Report = Callable[[str], None]


class StackUnhealthy(StackError):
    """A component did not come up; carries its log tail for the user."""

    def __init__(self, component: str, reason: str, tail: str) -> None:
        super().__init__(f"{component} {reason}")
        self.component = component
        self.tail = tail


@dataclass(frozen=True)
class ComponentStatus:
    """One line of ``palette stack status``."""

    name: str
    pid: int | None
    health: str
    """``up``, ``down``, or ``unmanaged`` (an external Redis that answers)."""
    endpoint: str
    detail: str = ""

    @property
    def healthy(self) -> bool:
        return self.health in {"up", "unmanaged"}


# --- up ---------------------------------------------------------------------------------


def up(
    stack_dir: Path,
    *,
    workers: int = 1,
    beat: bool = False,
    bind: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    environ: Mapping[str, str] | None = None,
    report: Report = lambda line: None,
) -> None:
    """Start whatever is not running, then wait until every component answers.

    ``workers`` is the worker's concurrency (0: no local worker; other hosts run them);
    ``beat`` runs the periodic sweep scheduler, inside that worker or, with no worker,
    as a process of its own. Both apply when the worker (re)starts. ``bind`` is the
    address the services listen on (default: the last one, else 127.0.0.1); it applies
    when they are all stopped.
    """
    if workers < 0:
        raise StackError(f"--workers must be 0 or more, got {workers}")
    base = dict(os.environ if environ is None else environ)
    stack_dir = stack_dir.expanduser().resolve()
    prepare_dir(stack_dir)
    deadline = time.monotonic() + timeout
    with locked(stack_dir):
        state = load(stack_dir) or new_state(stack_dir, base)
        _forget_dead(state)
        refuse_exposed_seaweedfs(state)
        _configure_bind(state, bind)
        _configure(state, base, workers, beat)
        state.save()
        if state.broker_managed and "redis" not in state.procs:
            _warn_if_bundled(report)
        components = managed(state)
        _check_ports(state, [c for c in components if c.name not in state.procs])
        if not state.broker_managed:
            report(f"{'redis':<10} external  {redact_url(state.broker_url)}")
        for component in components:
            _ensure_running(state, component, base, report)
            if component.wait_before_next:
                _await(state, component, deadline)
        for component in components:
            _await(state, component, deadline)


def _forget_dead(state: StackState) -> None:
    """Drop pid records of processes that are gone (crashed, rebooted, killed by hand)."""
    for name, proc in list(state.procs.items()):
        if not is_alive(proc):
            del state.procs[name]
            remove_pidfile(state.pid_path(name))


def refuse_exposed_seaweedfs(state: StackState) -> None:
    """A SeaweedFS started by an older ``palette stack up --bind`` (no ``weed_s3`` port:
    before SeaweedFS was kept on loopback) still answers on the stack's address with its
    filer open to anyone: it must be restarted, not reused."""
    if "seaweedfs" in state.procs and state.bind != LOOPBACK and "weed_s3" not in state.ports:
        raise StackError(
            f"seaweedfs was started by an older palette and listens on {state.bind} with "
            "no credential on its filer: `palette stack down`, then `palette stack up` again"
        )


def _configure(state: StackState, base: Mapping[str, str], workers: int, beat: bool) -> None:
    """Settings for the components about to start; running ones keep theirs."""
    from worker.config import Settings
    from worker.errors import PaletteError

    running = set(state.procs)
    if "api_stub" not in running:
        recorded = state.ports.get("api", DEFAULT_API_PORT)
        state.ports["api"] = _env_port(base, ENV_API_PORT) or recorded
    if "seaweedfs" not in running:
        try:
            settings = Settings.from_env(base)
        except PaletteError as exc:
            raise StackError(f"invalid settings: {exc}") from exc
        state.input_bucket, state.output_bucket = settings.input_bucket, settings.output_bucket
        state.region = settings.region
        chosen = base.get(ENV_DATA_DIR)
        data_dir = state.data_dir or state.stack_dir / "seaweedfs"
        state.data_dir = Path(chosen).expanduser().resolve() if chosen else data_dir
        _choose_weed_ports(state, base)
    if "worker" not in running:
        state.workers, state.beat = workers, beat
    if "callbacks" not in running:
        state.callbacks = bool(base.get("PALETTE_CALLBACK_URL"))
    if "redis" not in running:
        _choose_broker(state, base)


SERVICES = ("redis", "seaweedfs", "s3_relay", "api_stub")


def _configure_bind(state: StackState, bind: str | None) -> None:
    """Move the services to ``bind`` when none of them runs (they share one address).

    Our Redis moves with them, and because it then answers beyond loopback it needs a
    password: it always has one (``broker.write_config`` refuses otherwise).
    """
    if bind is None or bind == state.bind:
        return
    running = [name for name in SERVICES if name in state.procs]
    if running:
        raise StackError(
            f"{', '.join(running)} already listen on {state.bind}: "
            f"`palette stack down` first to move them to {bind}"
        )
    state.bind = check_bind(bind)


def check_bind(address: str) -> str:
    """An IPv4 address of this machine that other hosts can be told to use.

    A wildcard (0.0.0.0) would listen everywhere but gives the URLs no address.
    """
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError as exc:
        raise StackError(f"--bind wants an IPv4 address of this host, got {address!r}") from exc
    if ip.is_unspecified:
        raise StackError(
            f"--bind {address} names no address to hand out: give the one other hosts reach"
        )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((str(ip), 0))
        except OSError as exc:
            raise StackError(f"--bind {address}: not an address of this host ({exc})") from exc
    return str(ip)


def _warn_if_bundled(report: Report) -> None:
    binary = broker.redis_binary()
    if binary.bundled:
        report(f"warning: {broker.BUNDLED_WARNING}")


def _env_port(base: Mapping[str, str], name: str) -> int | None:
    raw = base.get(name, "")
    if not raw:
        return None
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise StackError(f"{name} must be a port number, got {raw!r}")
    return int(raw)


def _choose_weed_ports(state: StackState, base: Mapping[str, str]) -> None:
    """S3 where the user asked (default 8333); SeaweedFS's own ports where they were, or anew.

    SeaweedFS listens on 127.0.0.1 only, and ``weed mini`` refuses a port taken on any
    address, so its ports are checked on the wildcard. With the services on another
    address, the S3 port there is the relay's and SeaweedFS's own S3 port (``weed_s3``)
    is one more internal one. Each gRPC port is its HTTP port + 10000 when possible:
    some SeaweedFS internals dial that offset whatever the flags say.
    """
    ports = state.ports
    ports["s3"] = _env_port(base, ENV_S3_PORT) or ports.get("s3", DEFAULT_S3_PORT)
    taken = {ports["s3"], ports.get("api", DEFAULT_API_PORT)}
    internal = [name for name in WEED_PORTS if name != "s3"]
    if state.bind == LOOPBACK:
        ports["weed_s3"] = ports["s3"]
        s3_grpc = ports["s3"] + GRPC_OFFSET
        grpc_free = s3_grpc < 65536 and port_free(s3_grpc, ANY_ADDRESS)
        ports["s3_grpc"] = s3_grpc if grpc_free else _any_free_port(ANY_ADDRESS)
        taken.add(ports["s3_grpc"])
    else:
        internal.insert(0, "weed_s3")
    for name in internal:
        port = ports.get(name)
        if port is None or port in taken or not _pair_free(port):
            port = pick_port_pair(taken, host=ANY_ADDRESS)
        ports[name], ports[_grpc_key(name)] = port, port + GRPC_OFFSET
        taken |= {port, port + GRPC_OFFSET}
    _choose_metrics_port(ports, taken)


def _choose_metrics_port(ports: dict[str, int], taken: set[int]) -> None:
    """SeaweedFS's Prometheus metrics (S3 requests by type, bucket and status code), on
    127.0.0.1 like the rest of it: where they were, or anew."""
    port = ports.get(WEED_METRICS)
    if port is None or port in taken or not port_free(port, ANY_ADDRESS):
        ports[WEED_METRICS] = pick_port_pair(taken, host=ANY_ADDRESS)


def _pair_free(port: int) -> bool:
    return port_free(port, ANY_ADDRESS) and port_free(port + GRPC_OFFSET, ANY_ADDRESS)


def _grpc_key(name: str) -> str:
    """SeaweedFS's own S3 port's gRPC twin is ``s3_grpc`` whichever port S3 is on."""
    return "s3_grpc" if name == "weed_s3" else name + "_grpc"


def _any_free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _choose_broker(state: StackState, base: Mapping[str, str]) -> None:
    """Use a Redis that answers at the URL; else plan to start ours on the URL's port,
    with the stack's password (kept in stack.json) added to the URL.

    While the worker or the api_stub runs, the URL they were given stays.
    """
    url = base.get("PALETTE_BROKER_URL") or state.broker_url or broker.DEFAULT_BROKER_URL
    if state.broker_url and {"worker", "api_stub", "beat"} & set(state.procs):
        url = state.broker_url
    if broker.ping(url):
        state.broker_url, state.broker_managed = url, False
        return
    if not broker.can_host(url):
        raise StackError(f"no Redis answers at {redact_url(url)} (PALETTE_BROKER_URL)")
    # ours: always with a password, so the URL clients get carries it; on the stack's address
    state.broker_url = broker.with_host(broker.with_password(url, state.redis_password), state.bind)
    state.broker_managed = True
    state.ports["redis"] = broker.url_port(url)


_PORT_HINTS = {
    "s3": ENV_S3_PORT,
    "weed_s3": ENV_S3_PORT,
    "api": ENV_API_PORT,
    "redis": "PALETTE_BROKER_URL",
}
"""Which setting moves the port a component wants (``weed_s3`` is ``s3`` on loopback)."""


def _check_ports(state: StackState, starting: list[Component]) -> None:
    """Before starting anything: each port we must bind is free, else one clear line."""
    wanted = [
        (c.name, c.port_key, c.host(state), state.ports[c.port_key]) for c in starting if c.port_key
    ]
    seen: dict[tuple[str, int], str] = {}
    for name, key, host, port in wanted:
        if (host, port) in seen:
            raise StackError(f"{name} and {seen[host, port]} are both set to port {port}")
        seen[host, port] = name
        if not port_free(port, host):
            hint = _PORT_HINTS[key]
            raise StackError(
                f"port {port} ({name}) is in use by another process; choose another with {hint}"
            )


def _ensure_running(
    state: StackState, component: Component, base: Mapping[str, str], report: Report
) -> None:
    """Reuse the component when it runs; otherwise start it and record its pid."""
    name = component.name
    current = state.procs.get(name)
    if is_alive(current):
        assert current is not None
        report(f"{name:<10} reused    pid {current.pid:<7} {component.endpoint(state)}")
        return
    component.prepare(state)
    log_path = state.log_path(name)
    rotate_log(log_path)
    proc = spawn(
        component.command(state),
        cwd=component.cwd(state),
        log_path=log_path,
        env=process_env(state, base),
    )
    state.procs[name] = proc
    write_pidfile(state.pid_path(name), proc.pid)
    state.save()
    report(f"{name:<10} started   pid {proc.pid:<7} {component.endpoint(state)}")


def _await(state: StackState, component: Component, deadline: float) -> None:
    """Poll ``ready`` until the deadline; give up at once if the process died."""
    proc = state.procs.get(component.name)
    while True:
        if not is_alive(proc):
            raise _unhealthy(state, component.name, "exited during start-up")
        if component.ready(state):
            return
        if time.monotonic() >= deadline:
            raise _unhealthy(state, component.name, "did not answer in time")
        time.sleep(0.2)


def _unhealthy(state: StackState, name: str, reason: str) -> StackUnhealthy:
    path = state.log_path(name)
    return StackUnhealthy(name, f"{reason} (log: {path})", log_tail(path))


# --- down -------------------------------------------------------------------------------


def down(stack_dir: Path, *, purge: bool = False, timeout: float = STOP_TIMEOUT) -> None:
    """Stop what we started (never an external Redis); keep data unless ``purge``.

    Stops in two waves: everything but Redis, then Redis, so the worker's warm
    shutdown can still acknowledge to its broker.
    """
    stack_dir = stack_dir.expanduser().resolve()
    state = load(stack_dir)
    if state is None:
        return
    with locked(stack_dir):
        procs = dict(state.procs)
        stop_all([p for n, p in procs.items() if n != "redis"], timeout=timeout)
        stop_all([p for n, p in procs.items() if n == "redis"], timeout=timeout)
        for name in procs:
            remove_pidfile(state.pid_path(name))
        state.procs = {}
        state.save()
        if purge:
            _purge(state)


def _purge(state: StackState) -> None:
    """Remove data, logs and secrets; the data dir only if it is visibly SeaweedFS's."""
    data_dir = state.data_dir
    if data_dir and data_dir.exists():
        inside = data_dir.is_relative_to(state.stack_dir)
        if inside or (data_dir / "mini.options").exists() or not any(data_dir.iterdir()):
            shutil.rmtree(data_dir)
    for name in ("redis", "seaweedfs-conf", "logs", "run"):
        shutil.rmtree(state.stack_dir / name, ignore_errors=True)
    for name in ("stack.json", "lock"):
        (state.stack_dir / name).unlink(missing_ok=True)


# --- status / env -----------------------------------------------------------------------


def status(stack_dir: Path) -> list[ComponentStatus]:
    """One entry per component, checked now; nothing is changed."""
    stack_dir = stack_dir.expanduser().resolve()
    state = load(stack_dir)
    if state is None:
        return [ComponentStatus(n, None, "down", "-", "no stack here") for n in _NAMES]
    rows = [] if state.broker_managed else [_external_redis(state)]
    rows += [_component_status(state, c) for c in managed(state)]
    return [*rows, _queue_status(state)]


def _queue_status(state: StackState) -> ComponentStatus:
    """Backlog and dead letters: "process alive" is not "work is progressing"."""
    from worker.jobs import QUEUE_NAME
    from worker.ledger import Ledger

    try:
        ledger = Ledger.from_url(state.broker_url)
        waiting = int(ledger.redis.llen(QUEUE_NAME))
        dead = ledger.dead_letter_count()
        ledger.redis.close()
    except Exception as exc:
        return ComponentStatus("queue", None, "down", QUEUE_NAME, type(exc).__name__)
    detail = f"{waiting} waiting, {dead} dead-lettered"
    return ComponentStatus("queue", None, "up", QUEUE_NAME, detail)


_NAMES = ("redis", "seaweedfs", "api_stub", "worker")


def _external_redis(state: StackState) -> ComponentStatus:
    info = broker.server_info(state.broker_url)
    return ComponentStatus(
        "redis",
        None,
        "unmanaged" if info else "down",
        redact_url(state.broker_url),
        f"external, {broker.describe(info)}" if info else "external, not answering",
    )


def _component_status(state: StackState, component: Component) -> ComponentStatus:
    proc = state.procs.get(component.name)
    alive = is_alive(proc)
    healthy = alive and component.healthy(state)
    detail = "" if healthy else ("not answering" if alive else "not running")
    if healthy and component.name == "redis":
        detail = broker.describe(broker.server_info(state.broker_url))
    return ComponentStatus(
        component.name,
        proc.pid if alive and proc else None,
        "up" if healthy else "down",
        component.endpoint(state),
        detail,
    )


def client_env(stack_dir: Path | None = None) -> dict[str, str]:
    """The stack's client settings, or {} when there is none (clients then use defaults)."""
    try:
        return env(stack_dir or default_stack_dir())
    except StackError:
        return {}


def env(stack_dir: Path) -> dict[str, str]:
    """The client settings of the stack in ``stack_dir`` (secrets included)."""
    state = load(stack_dir.expanduser().resolve())
    if state is None or "s3" not in state.ports:
        raise StackError(f"no stack in {stack_dir}: run `palette stack up` first")
    return state.client_env()


def proc_of(stack_dir: Path, name: str) -> Proc | None:
    """The recorded process of a component (tests and the chaos script kill it)."""
    state = load(stack_dir.expanduser().resolve())
    return None if state is None else state.procs.get(name)
