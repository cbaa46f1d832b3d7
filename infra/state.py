"""The stack's memory between commands: ``<stack_dir>/stack.json`` (mode 0600).

It records what a later ``up``, ``status``, ``env`` or ``down`` must know: ports, the
generated credentials and webhook token (kept across runs so that clients and stored
``env`` output keep working), where the data lives, and which processes we started.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from infra.processes import Proc, StackError

STATE_FILE = "stack.json"
STATE_VERSION = 1

ENV_STACK_DIR = "PALETTE_STACK_DIR"
ENV_DATA_DIR = "PALETTE_STACK_DATA_DIR"
ENV_S3_PORT = "PALETTE_STACK_S3_PORT"
ENV_API_PORT = "PALETTE_STACK_API_PORT"
ENV_ACCESS_KEY = "PALETTE_STACK_ACCESS_KEY"
ENV_SECRET_KEY = "PALETTE_STACK_SECRET_KEY"

DEFAULT_S3_PORT = 8333
DEFAULT_API_PORT = 8080
DEFAULT_BIND = "127.0.0.1"


def default_stack_dir(env: dict[str, str] | None = None) -> Path:
    """``$PALETTE_STACK_DIR``, else ``$XDG_STATE_HOME/palette-worker``, else
    ``~/.local/state/palette-worker``: per user, independent of the current directory,
    so ``palette stack status`` finds the stack from anywhere.
    """
    env = dict(os.environ) if env is None else env
    if env.get(ENV_STACK_DIR):
        return Path(env[ENV_STACK_DIR]).expanduser().resolve()
    state_home = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home).expanduser().resolve() / "palette-worker"


@dataclass
class StackState:
    """Everything the stack launcher remembers; secrets included, hence mode 0600."""

    stack_dir: Path
    access_key: str
    secret_key: str
    webhook_token: str
    redis_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    """Required by a Redis the stack starts; part of the broker URL it hands out."""
    api_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    """``PALETTE_API_TOKEN``: the bearer ``/metrics`` wants once services listen beyond
    loopback (``palette stack up --bind``); printed by ``env`` for the other hosts."""
    bind: str = DEFAULT_BIND
    """The address SeaweedFS, the stack's Redis and the api_stub listen on, and the one
    every URL ``env`` prints names: other hosts reach the services there."""
    region: str = "us-east-1"
    input_bucket: str = "images"
    output_bucket: str = "palettes"
    broker_url: str = ""
    broker_managed: bool = False
    data_dir: Path | None = None
    workers: int = 1
    beat: bool = False
    callbacks: bool = False
    """A callback worker runs beside the worker (``PALETTE_CALLBACK_URL`` was set)."""
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    # --- paths -----------------------------------------------------------------------

    @property
    def logs_dir(self) -> Path:
        return self.stack_dir / "logs"

    @property
    def run_dir(self) -> Path:
        return self.stack_dir / "run"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def pid_path(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    # --- derived endpoints -----------------------------------------------------------

    @property
    def s3_endpoint(self) -> str:
        return f"http://{self.bind}:{self.ports['s3']}"

    @property
    def api_url(self) -> str:
        return f"http://{self.bind}:{self.ports['api']}"

    def client_env(self) -> dict[str, str]:
        """What a client needs (``palette stack env``); names are worker.config's."""
        return {
            "PALETTE_S3_ENDPOINT": self.s3_endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "PALETTE_INPUT_BUCKET": self.input_bucket,
            "PALETTE_OUTPUT_BUCKET": self.output_bucket,
            "PALETTE_BROKER_URL": self.broker_url,
            "PALETTE_API_URL": self.api_url,
            "PALETTE_WEBHOOK_TOKEN": self.webhook_token,
            "PALETTE_API_TOKEN": self.api_token,
        }

    # --- persistence -----------------------------------------------------------------

    def to_json(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "webhook_token": self.webhook_token,
            "redis_password": self.redis_password,
            "api_token": self.api_token,
            "bind": self.bind,
            "region": self.region,
            "input_bucket": self.input_bucket,
            "output_bucket": self.output_bucket,
            "broker_url": self.broker_url,
            "broker_managed": self.broker_managed,
            "data_dir": str(self.data_dir) if self.data_dir else None,
            "workers": self.workers,
            "beat": self.beat,
            "callbacks": self.callbacks,
            "ports": dict(self.ports),
            "procs": {name: proc.to_dict() for name, proc in self.procs.items()},
        }

    def save(self) -> None:
        """Write atomically, created 0600: the file holds the S3 secret and the token."""
        path = self.stack_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.to_json(), fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)


def load(stack_dir: Path) -> StackState | None:
    """The saved state, or None when no stack was ever started in ``stack_dir``."""
    path = stack_dir / STATE_FILE
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise StackError(f"unreadable {path}: {exc}") from exc
    procs = {name: Proc.from_dict(value) for name, value in raw.get("procs", {}).items()}
    return StackState(
        stack_dir=stack_dir,
        access_key=raw["access_key"],
        secret_key=raw["secret_key"],
        webhook_token=raw["webhook_token"],
        redis_password=raw.get("redis_password") or secrets.token_urlsafe(24),
        api_token=raw.get("api_token") or secrets.token_urlsafe(32),
        bind=raw.get("bind") or DEFAULT_BIND,
        region=raw.get("region", "us-east-1"),
        input_bucket=raw.get("input_bucket", "images"),
        output_bucket=raw.get("output_bucket", "palettes"),
        broker_url=raw.get("broker_url", ""),
        broker_managed=bool(raw.get("broker_managed", False)),
        data_dir=Path(raw["data_dir"]) if raw.get("data_dir") else None,
        workers=int(raw.get("workers", 1)),
        beat=bool(raw.get("beat", False)),
        callbacks=bool(raw.get("callbacks", False)),
        ports={k: int(v) for k, v in raw.get("ports", {}).items()},
        procs={name: proc for name, proc in procs.items() if proc is not None},
    )


def new_state(stack_dir: Path, env: dict[str, str]) -> StackState:
    """First ``up`` in a directory: fresh secrets unless the user chose credentials."""
    return StackState(
        stack_dir=stack_dir,
        access_key=env.get(ENV_ACCESS_KEY) or "palette-" + secrets.token_hex(6),
        secret_key=env.get(ENV_SECRET_KEY) or secrets.token_urlsafe(30),
        webhook_token=secrets.token_urlsafe(32),
        api_token=env.get("PALETTE_API_TOKEN") or secrets.token_urlsafe(32),
    )


def prepare_dir(stack_dir: Path) -> None:
    """The stack directory and its subdirectories, private to the user."""
    stack_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    for sub in ("logs", "run"):
        (stack_dir / sub).mkdir(mode=0o700, exist_ok=True)


@contextlib.contextmanager
def locked(stack_dir: Path) -> Iterator[None]:
    """One ``up``/``down`` at a time per stack: two racing ``up`` would start two of all."""
    fd = os.open(stack_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
