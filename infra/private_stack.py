"""A private stack for tests and benchmarks: a temporary directory, free ports, its own Redis.

``infra.stack.up`` run exactly as ``palette stack up`` runs it, with an environment that
shares nothing with the developer's own stack or anyone else's on the machine: the
caller's ``PALETTE_*`` and ``AWS_*`` variables are dropped (a loaded ``palette stack
env`` must not leak in), S3, API and Redis ports are picked free, and the stack starts
its own Redis there unless the caller names one. Used by the integration tests'
``stack`` fixture, ``benchmarks/bench_pipeline.py``, ``bench_storage.py`` and ``chaos.py``.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from infra import stack as stack_mod
from infra.processes import Proc, pick_port_pair
from worker.config import Settings

PORT_RANGE = (23000, 29000)
"""Away from the defaults (8333, 8080, 6379) and from the stack's own internal ports."""

KEPT_AWS = {"AWS_CA_BUNDLE"}


@dataclass
class PrivateStack:
    """A running private stack as a client sees it; its repr shows no secret."""

    stack_dir: Path
    environ: dict[str, str] = field(repr=False)
    """What ``up`` was called with; ``up()`` reuses it, so a restart keeps the ports."""
    env: dict[str, str] = field(repr=False)
    """Client variables (``palette stack env``): S3 endpoint, credentials, broker, API."""
    settings: Settings = field(repr=False)
    workers: int = 1
    beat: bool = False
    bind: str | None = None
    """The services' address (``palette stack up --bind``); None: as before, 127.0.0.1."""

    def up(self, timeout: float = 180.0) -> None:
        """Start again whatever was stopped or killed; running components are reused."""
        stack_mod.up(
            self.stack_dir,
            workers=self.workers,
            beat=self.beat,
            bind=self.bind,
            environ=self.environ,
            timeout=timeout,
        )

    def status(self) -> list[stack_mod.ComponentStatus]:
        return stack_mod.status(self.stack_dir)

    def proc(self, name: str) -> Proc | None:
        """The recorded process of a component (``worker``, ``api_stub``, ``seaweedfs``,
        ``redis``), e.g. to SIGKILL it in a fault test."""
        return stack_mod.proc_of(self.stack_dir, name)


def free_port(taken: set[int] | None = None) -> int:
    """A free port whose +10000 twin is free too (SeaweedFS's gRPC; harmless elsewhere)."""
    return pick_port_pair(taken or set(), low=PORT_RANGE[0], high=PORT_RANGE[1])


def private_environ(
    stack_dir: Path,
    broker_url: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for ``up``: ours less any stack of the caller's, free ports (S3, API,
    worker metrics), a Redis of its own unless ``broker_url`` names one, then ``settings``
    (variable → value)."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PALETTE_", "AWS_")) or k in KEPT_AWS
    }
    taken: set[int] = set()
    ports = []
    for _ in range(3 if broker_url else 4):
        port = free_port(taken)
        taken |= {port, port + 10000}
        ports.append(port)
    environ.update(
        PALETTE_STACK_DIR=str(stack_dir),
        PALETTE_STACK_S3_PORT=str(ports[0]),
        PALETTE_STACK_API_PORT=str(ports[1]),
        PALETTE_METRICS_PORT=str(ports[2]),
        PALETTE_BROKER_URL=broker_url or f"redis://127.0.0.1:{ports[3]}/0",
    )
    environ.update(settings or {})
    return environ


def start(
    stack_dir: Path,
    environ: dict[str, str],
    *,
    workers: int = 1,
    beat: bool = False,
    bind: str | None = None,
    timeout: float = 180.0,
) -> PrivateStack:
    """``up`` in ``stack_dir``; on failure, whatever started is stopped and the error raised."""
    handle = PrivateStack(stack_dir, environ, {}, Settings(), workers, beat, bind)
    try:
        handle.up(timeout)
    except BaseException:
        stack_mod.down(stack_dir)
        raise
    handle.env = stack_mod.env(stack_dir)
    handle.settings = Settings.from_env(handle.env)
    return handle


@contextmanager
def private_stack(
    *,
    workers: int = 1,
    beat: bool = False,
    broker_url: str | None = None,
    prefix: str = "palette-",
    settings: Mapping[str, str] | None = None,
) -> Iterator[PrivateStack]:
    """A private stack in a temporary directory; always stopped and purged at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        stack_dir = Path(tmp) / "stack"
        environ = private_environ(stack_dir, broker_url, settings)
        handle = start(stack_dir, environ, workers=workers, beat=beat)
        try:
            yield handle
        finally:
            stack_mod.down(stack_dir, purge=True)
