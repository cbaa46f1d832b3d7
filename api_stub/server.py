"""The api_stub process (``palette api``, ``python -m api_stub``): config → validate →
clients → serve, in that order.

Binds where ``PALETTE_API_URL`` points (so the URL clients are given is the one served),
unless ``PALETTE_API_BIND=host:port`` says otherwise (e.g. ``0.0.0.0:8080`` in a
container). One process; uvicorn stops gracefully on SIGTERM/SIGINT, finishing
in-flight requests for up to ``GRACEFUL_SHUTDOWN_S``. The access log is off unless
``PALETTE_API_ACCESS_LOG=1``: one line per storage event is a log storm under load.
Beyond loopback it refuses to start without ``PALETTE_API_TOKEN`` (``api_stub.access``).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from urllib.parse import urlsplit

from worker.config import Settings
from worker.errors import InvalidOptions
from worker.redact import configure_logging

GRACEFUL_SHUTDOWN_S = 10
_DEFAULT_PORTS = {"http": 80, "https": 443}


def bind_address(settings: Settings, env: Mapping[str, str]) -> tuple[str, int]:
    """(host, port) from ``PALETTE_API_BIND`` if set, else from ``PALETTE_API_URL``."""
    bind = env.get("PALETTE_API_BIND", "").strip()
    if bind:
        host, sep, bind_port = bind.rpartition(":")
        if not sep or not bind_port.isdigit():
            raise InvalidOptions(f"PALETTE_API_BIND must be host:port, got {bind!r}")
        return host.strip("[]") or "127.0.0.1", int(bind_port)
    url = urlsplit(settings.api_url)
    try:
        port = url.port or _DEFAULT_PORTS.get(url.scheme, 80)
    except ValueError as exc:
        raise InvalidOptions(f"PALETTE_API_URL has a bad port: {settings.api_url!r}") from exc
    return url.hostname or "127.0.0.1", port


def serve(env: Mapping[str, str] | None = None) -> int:
    """Run the server until SIGTERM; returns the process exit code."""
    import uvicorn

    from api_stub.access import ApiAccess
    from api_stub.app import create_app

    env = os.environ if env is None else env
    configure_logging(logging.INFO)
    try:
        settings = Settings.from_env(env)
        host, port = bind_address(settings, env)
    except InvalidOptions as exc:
        print(f"api_stub: {exc}", file=sys.stderr)
        return 2
    access = ApiAccess.from_env(host, env)
    problem = access.startup_problem()
    if problem is not None:
        print(f"api_stub: {problem}", file=sys.stderr)
        return 2
    app = create_app(settings, access=access)
    access_log = env.get("PALETTE_API_ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"}
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        access_log=access_log,
        log_config=None,
        workers=1,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        server_header=False,
    )
    uvicorn.Server(config).run()
    return 0
