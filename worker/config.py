"""Every setting, once: its environment variable, its default and why it exists.

Read with ``Settings.from_env()`` at a composition root (worker start, api_stub start,
CLI command), never at import time, so tests and the stack launcher can pass their own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from worker.errors import InvalidOptions
from worker.redact import redact_url

MIB = 1024 * 1024
RETRY_BACKOFF_MAX_S = 60
"""Longest retry countdown, seconds (``worker.celery_app.RETRY_BACKOFF_MAX``). A worker
holds a retried message unacknowledged while it waits for its countdown."""
VISIBILITY_MARGIN_S = 5.0
"""Least gap between the hard time limit and the visibility timeout: a job at its hard
limit must be killed (and its message acked) before Redis hands the message to another."""


@dataclass(frozen=True)
class Settings:
    """Typed configuration; each field documents its variable in ``metadata``."""

    s3_endpoint: str | None = field(
        default=None,
        metadata={"env": "PALETTE_S3_ENDPOINT", "doc": "S3 endpoint URL; unset means AWS S3."},
    )
    s3_public_endpoint: str | None = field(
        default=None,
        metadata={
            "env": "PALETTE_S3_PUBLIC_ENDPOINT",
            "doc": "S3 endpoint browsers upload to (presigned URLs); unset: PALETTE_S3_ENDPOINT.",
        },
    )
    access_key: str | None = field(
        default=None,
        metadata={
            "env": "AWS_ACCESS_KEY_ID",
            "doc": "S3 access key (boto3 chain if unset).",
            "secret": True,
        },
    )
    secret_key: str | None = field(
        default=None,
        metadata={"env": "AWS_SECRET_ACCESS_KEY", "doc": "S3 secret key.", "secret": True},
    )
    session_token: str | None = field(
        default=None,
        metadata={
            "env": "AWS_SESSION_TOKEN",
            "doc": "Session token of temporary S3 credentials (STS, SSO), with the keys above.",
            "secret": True,
        },
    )
    region: str = field(
        default="us-east-1", metadata={"env": "AWS_DEFAULT_REGION", "doc": "S3 region."}
    )
    input_bucket: str = field(
        default="images",
        metadata={"env": "PALETTE_INPUT_BUCKET", "doc": "Bucket whose uploads are processed."},
    )
    output_bucket: str = field(
        default="palettes",
        metadata={"env": "PALETTE_OUTPUT_BUCKET", "doc": "Bucket the JSON and PNG go to."},
    )
    broker_url: str = field(
        default="redis://127.0.0.1:6379/0",
        metadata={
            "env": "PALETTE_BROKER_URL",
            "doc": "Celery broker (Redis); its password, if any, is treated as a secret.",
            "secret": "url",
        },
    )
    webhook_token: str | None = field(
        default=None,
        metadata={
            "env": "PALETTE_WEBHOOK_TOKEN",
            "doc": "Bearer token POST /events requires; unset rejects every event.",
            "secret": True,
        },
    )
    default_k: int = field(
        default=5, metadata={"env": "PALETTE_DEFAULT_K", "doc": "Colours per palette (1-32)."}
    )
    max_bytes: int = field(
        default=50 * MIB,
        metadata={"env": "PALETTE_MAX_BYTES", "doc": "Largest source object accepted, bytes."},
    )
    max_pixels: int = field(
        default=100_000_000,
        metadata={"env": "PALETTE_MAX_PIXELS", "doc": "Largest width x height accepted."},
    )
    decode_budget_mb: int = field(
        default=128,
        metadata={
            "env": "PALETTE_DECODE_BUDGET_MB",
            "doc": "Most MiB one image may take decoded (width x height x bands, after a "
            "JPEG's draft), checked from the header: beyond it too_large.",
        },
    )
    max_memory_per_child_mb: int = field(
        default=512,
        metadata={
            "env": "PALETTE_MAX_MEMORY_PER_CHILD_MB",
            "doc": "Peak resident MiB past which a worker process is replaced after its job "
            "(Celery's worker_max_memory_per_child); 0: never.",
        },
    )
    api_url: str = field(
        default="http://127.0.0.1:8080",
        metadata={"env": "PALETTE_API_URL", "doc": "Where clients reach the api_stub."},
    )
    sweep_interval_s: float = field(
        default=300.0,
        metadata={
            "env": "PALETTE_SWEEP_INTERVAL",
            "doc": "Seconds between periodic sweeps (Celery beat); 0 disables them.",
        },
    )
    visibility_timeout_s: float = field(
        default=180.0,
        metadata={
            "env": "PALETTE_VISIBILITY_TIMEOUT",
            "doc": "Seconds before Redis hands a job whose worker vanished (host lost, "
            "SIGKILL) to another; at least PALETTE_TIME_LIMIT + 5 s (checked at start), "
            "better above it plus the longest retry countdown (60 s), or retried jobs may "
            "run twice.",
        },
    )
    soft_time_limit_s: float = field(
        default=60.0,
        metadata={
            "env": "PALETTE_SOFT_TIME_LIMIT",
            "doc": "Seconds before a job is asked to stop; it then stores a failed "
            "`timeout` result.",
        },
    )
    time_limit_s: float = field(
        default=90.0,
        metadata={
            "env": "PALETTE_TIME_LIMIT",
            "doc": "Seconds before a job's process is killed (it ignored the soft limit, "
            "say stuck in a decoder); the job still ends as a failed `timeout` result. "
            "Above the soft limit; the visibility timeout must exceed it by 5 s or more.",
        },
    )
    failure_retry_s: float = field(
        default=60.0,
        metadata={
            "env": "PALETTE_FAILURE_RETRY_AFTER",
            "doc": "Seconds after a retryable failure (`timeout`, `worker_lost`, "
            "`storage_unavailable`, `broker_unavailable`) before the sweep enqueues the "
            "image again; doubled after each further failure.",
        },
    )
    failure_attempts: int = field(
        default=3,
        metadata={
            "env": "PALETTE_FAILURE_ATTEMPTS",
            "doc": "Failures of one image version after which the sweep stops retrying it "
            "(its result stays failed, with `error.attempts`).",
        },
    )
    s3_timeout: float = field(
        default=10.0,
        metadata={"env": "PALETTE_S3_TIMEOUT", "doc": "Seconds for each S3 connect/read."},
    )

    push: bool = field(
        default=True,
        metadata={
            "env": "PALETTE_PUSH",
            "doc": "Announce each stored result on Redis, so long-polls answer at once; "
            "0: they wait out their N seconds.",
        },
    )
    callback_url: str | None = field(
        default=None,
        metadata={
            "env": "PALETTE_CALLBACK_URL",
            "doc": "POST every stored result here, signed (needs PALETTE_CALLBACK_SECRET).",
        },
    )
    callback_secret: str | None = field(
        default=None,
        metadata={
            "env": "PALETTE_CALLBACK_SECRET",
            "doc": "HMAC-SHA256 key of the Palette-Signature header; at least 16 characters.",
            "secret": True,
        },
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from the environment; empty strings count as unset."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f.metadata["env"], "")
            if raw == "":
                continue
            values[f.name] = _parse(f.name, raw, f.default)
        return cls(**values).validated()  # type: ignore[arg-type]  # _parse typed by default

    def validated(self) -> Settings:
        """Fail at start-up, not on the first job, when a value makes no sense."""
        if not 1 <= self.default_k <= 32:
            raise InvalidOptions(f"PALETTE_DEFAULT_K must be 1-32, got {self.default_k}")
        _check_limits(self.soft_time_limit_s, self.time_limit_s, self.visibility_timeout_s)
        if self.failure_retry_s < 0 or self.failure_attempts < 1:
            raise InvalidOptions(
                "PALETTE_FAILURE_RETRY_AFTER must be >= 0, PALETTE_FAILURE_ATTEMPTS >= 1"
            )
        if self.max_bytes <= 0 or self.max_pixels <= 0:
            raise InvalidOptions("PALETTE_MAX_BYTES and PALETTE_MAX_PIXELS must be positive")
        if self.decode_budget_mb <= 0 or self.max_memory_per_child_mb < 0:
            raise InvalidOptions(
                "PALETTE_DECODE_BUDGET_MB must be positive, "
                "PALETTE_MAX_MEMORY_PER_CHILD_MB zero or positive"
            )
        if self.callback_url is not None:
            _check_callback(self.callback_url, self.callback_secret)
        if self.input_bucket == self.output_bucket:
            raise InvalidOptions(
                "PALETTE_INPUT_BUCKET and PALETTE_OUTPUT_BUCKET must differ: a worker that "
                "writes where it is triggered triggers itself forever"
            )
        return self

    @property
    def decode_budget_bytes(self) -> int:
        return self.decode_budget_mb * MIB

    @property
    def extract_limits(self) -> dict[str, int]:
        """The input limits of ``worker.palette.extract`` (its keyword arguments): the
        worker and ``palette extract`` pass these, so both refuse the same inputs."""
        return {
            "max_bytes": self.max_bytes,
            "max_pixels": self.max_pixels,
            "max_decode_bytes": self.decode_budget_bytes,
        }

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes).validated()  # type: ignore[arg-type]

    def __repr__(self) -> str:
        """Never print a secret, even by accident in a log line."""
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") == "url":
                value = redact_url(value)
            elif f.metadata.get("secret") and value:
                value = "***"
            shown.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(shown)})"


def _check_limits(soft: float, hard: float, visibility: float) -> None:
    """0 < soft < hard, and the visibility timeout at least ``VISIBILITY_MARGIN_S`` above
    the hard limit: else Redis redelivers a job that is still running, and a job killed
    at its limit may already run twice."""
    if not 0 < soft < hard:
        raise InvalidOptions(
            f"PALETTE_SOFT_TIME_LIMIT must be positive and below PALETTE_TIME_LIMIT, "
            f"got {soft:g} and {hard:g}"
        )
    if visibility < hard + VISIBILITY_MARGIN_S:
        raise InvalidOptions(
            f"PALETTE_VISIBILITY_TIMEOUT ({visibility:g} s) must be at least "
            f"PALETTE_TIME_LIMIT ({hard:g} s) + {VISIBILITY_MARGIN_S:g} s"
        )


MIN_CALLBACK_SECRET = 16


def _check_callback(url: str, secret: str | None) -> None:
    """An http(s) URL, and a secret long enough that signatures mean something."""
    if not url.lower().startswith(("http://", "https://")):
        raise InvalidOptions("PALETTE_CALLBACK_URL must be an http:// or https:// URL")
    if not secret or len(secret) < MIN_CALLBACK_SECRET:
        raise InvalidOptions(
            f"PALETTE_CALLBACK_URL needs PALETTE_CALLBACK_SECRET of at least "
            f"{MIN_CALLBACK_SECRET} characters: unsigned callbacks could come from anyone"
        )


def _parse(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError as exc:
            raise InvalidOptions(f"{name} must be an integer, got {raw!r}") from exc
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError as exc:
            raise InvalidOptions(f"{name} must be a number, got {raw!r}") from exc
    return raw


def documented() -> list[tuple[str, str, str]]:
    """(variable, default, description) rows for the README's configuration table."""
    return [
        (f.metadata["env"], "" if f.default is None else str(f.default), f.metadata["doc"])
        for f in fields(Settings)
    ]
