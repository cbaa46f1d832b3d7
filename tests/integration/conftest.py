"""One real stack per test session: SeaweedFS, Redis, the api_stub and a Celery worker.

The ``stack`` fixture runs ``infra.stack.up`` exactly as ``palette stack up`` does, in a
temporary stack directory on free ports, with a Redis of its own (started by the stack
on a free port), so parallel sessions and other Redis users never see each other's keys
and tests may restart or flush it. Set ``PALETTE_TEST_BROKER_URL`` to use an existing
Redis instead (it is flushed before and after the session).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra import stack as stack_mod
from infra.processes import Proc, StackError, pick_port_pair
from tests.integration.corpus import MAX_BYTES
from tests.integration.helpers import flush_redis
from worker.config import Settings

UP_TIMEOUT = 120.0
"""Generous: the worker imports scikit-learn on a shared 2-core machine."""


@dataclass
class Stack:
    """A running stack, as a client sees it. Its repr shows no secret (failure output)."""

    stack_dir: Path
    environ: dict[str, str] = field(repr=False)
    """What ``up`` was called with; ``up()`` reuses it, so a restart keeps the ports."""
    env: dict[str, str] = field(repr=False)
    """Client variables (``palette stack env``): S3 endpoint, credentials, broker, API."""
    settings: Settings = field(repr=False)
    s3: Any = field(repr=False)
    api_url: str = ""

    def up(self, timeout: float = UP_TIMEOUT) -> None:
        """Start again whatever a test stopped or killed; running components are reused."""
        stack_mod.up(self.stack_dir, environ=self.environ, timeout=timeout)

    def status(self) -> list[stack_mod.ComponentStatus]:
        return stack_mod.status(self.stack_dir)

    def proc(self, name: str) -> Proc | None:
        """The recorded process of a component (``worker``, ``api_stub``, ``seaweedfs``,
        ``redis``), e.g. to SIGKILL it in a fault test."""
        return stack_mod.proc_of(self.stack_dir, name)


def free_port() -> int:
    """A free port whose +10000 twin is free too (harmless for non-SeaweedFS ports)."""
    return pick_port_pair(set(), low=23000, high=29000)


def stack_environ(stack_dir: Path, broker_url: str) -> dict[str, str]:
    """The caller environment for ``up``: ours, minus any stack the developer has loaded."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PALETTE_", "AWS_")) or k == "AWS_CA_BUNDLE"
    }
    s3_port = free_port()
    api_port = pick_port_pair({s3_port, s3_port + 10000}, low=23000, high=29000)
    environ.update(
        PALETTE_STACK_DIR=str(stack_dir),
        PALETTE_STACK_S3_PORT=str(s3_port),
        PALETTE_STACK_API_PORT=str(api_port),
        PALETTE_BROKER_URL=broker_url,
        # small enough that the bad-input corpus can carry a file over it
        PALETTE_MAX_BYTES=str(MAX_BYTES),
    )
    return environ


def _broker_url() -> tuple[str, bool]:
    """(url, external): a private Redis on a free port unless the developer chose one."""
    chosen = os.environ.get("PALETTE_TEST_BROKER_URL")
    if chosen:
        return chosen, True
    return f"redis://127.0.0.1:{free_port()}/0", False


def _s3_client(settings: Settings) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint,
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        region_name=settings.region,
        config=Config(connect_timeout=5, read_timeout=30, s3={"addressing_style": "path"}),
    )


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The session's stack; torn down (processes stopped, data kept in tmp) at the end."""
    stack_dir = tmp_path_factory.mktemp("stack")
    broker_url, external = _broker_url()
    if external:
        flush_redis(broker_url)
    environ = stack_environ(stack_dir, broker_url)
    try:
        stack_mod.up(stack_dir, environ=environ, timeout=UP_TIMEOUT)
    except StackError as exc:
        stack_mod.down(stack_dir)
        tail = getattr(exc, "tail", "")
        pytest.fail(f"stack did not come up: {exc}\n{tail}", pytrace=False)
    client_env = stack_mod.env(stack_dir)
    settings = Settings.from_env(client_env)
    s3 = _s3_client(settings)
    try:
        yield Stack(stack_dir, environ, client_env, settings, s3, settings.api_url)
    finally:
        s3.close()
        stack_mod.down(stack_dir)
        if external:
            flush_redis(broker_url)
