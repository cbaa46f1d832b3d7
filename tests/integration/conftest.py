"""One real stack per test session: SeaweedFS, Redis, the api_stub and a Celery worker.

The ``stack`` fixture is ``infra.private_stack``: ``infra.stack.up`` exactly as ``palette
stack up`` runs it, in a temporary stack directory on free ports, with a Redis of its own
(started by the stack on a free port), so parallel sessions and other Redis users never
see each other's keys and tests may restart or flush it. Set ``PALETTE_TEST_BROKER_URL``
to use an existing Redis instead (it is flushed before and after the session).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from infra import private_stack
from infra import stack as stack_mod
from infra.processes import StackError
from tests.integration.corpus import MAX_BYTES
from tests.integration.helpers import flush_redis
from tests.integration.receiver import SECRET, CallbackReceiver
from worker.storage import s3_client

UP_TIMEOUT = 120.0
"""Generous: the worker imports scikit-learn on a shared 2-core machine."""

free_port = private_stack.free_port


@dataclass
class Stack(private_stack.PrivateStack):
    """The session's stack, plus a plain boto3 client: what a user uploads with."""

    s3: Any = field(default=None, repr=False)
    api_url: str = ""


def stack_environ(
    stack_dir: Any, broker_url: str, callback_url: str | None = None
) -> dict[str, str]:
    """The caller environment for ``up``; the bad-input corpus needs a small byte limit."""
    # a byte limit small enough that the bad-input corpus can carry a file over it
    settings = {"PALETTE_MAX_BYTES": str(MAX_BYTES)}
    if callback_url:
        settings |= {"PALETTE_CALLBACK_URL": callback_url, "PALETTE_CALLBACK_SECRET": SECRET}
    return private_stack.private_environ(stack_dir, broker_url, settings)


@pytest.fixture(scope="session")
def callbacks() -> Iterator[CallbackReceiver]:
    """The web app the session's stack sends its signed callbacks to (every result)."""
    with CallbackReceiver() as receiver:
        yield receiver


def _broker_url() -> tuple[str, bool]:
    """(url, external): a private Redis on a free port unless the developer chose one."""
    chosen = os.environ.get("PALETTE_TEST_BROKER_URL")
    if chosen:
        return chosen, True
    return f"redis://127.0.0.1:{free_port()}/0", False


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, callbacks: CallbackReceiver) -> Iterator[Stack]:
    """The session's stack; torn down (processes stopped, data kept in tmp) at the end."""
    stack_dir = tmp_path_factory.mktemp("stack")
    broker_url, external = _broker_url()
    if external:
        flush_redis(broker_url)
    environ = stack_environ(stack_dir, broker_url, callbacks.url)
    try:
        started = private_stack.start(stack_dir, environ, timeout=UP_TIMEOUT)
    except StackError as exc:
        tail = getattr(exc, "tail", "")
        pytest.fail(f"stack did not come up: {exc}\n{tail}", pytrace=False)
    settings = started.settings
    s3 = s3_client(settings, timeout=30)  # generous: the machine is shared
    try:
        yield Stack(stack_dir, environ, started.env, settings, s3=s3, api_url=settings.api_url)
    finally:
        s3.close()
        stack_mod.down(stack_dir)
        if external:
            flush_redis(broker_url)
