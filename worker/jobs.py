"""What travels through the queue: object identifiers, never image bytes.

Shared by the api_stub (which enqueues) and the worker (which consumes), so it imports
nothing heavy: the api_stub must not pay for scikit-learn to send a message.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

from worker import outputs

TASK_NAME = "palette.process"
"""The Celery task name; the api_stub sends by name so it never imports the worker core."""

SWEEP_TASK_NAME = "palette.sweep"
"""The periodic task that re-enqueues whatever lacks a current result."""

REMOVE_TASK_NAME = "palette.remove"
"""Deletes the results of an image that is gone (from an ``ObjectRemoved`` event)."""

PROCESS, REMOVE = "process", "remove"
"""What a job asks for: make the image's result, or delete the results of a deleted image."""

QUEUE_NAME = "palette"


@dataclass(frozen=True)
class Job:
    """One image to process (or, with ``action=REMOVE``, one deleted image whose results
    go). ``etag`` is None when the event did not carry one."""

    bucket: str
    key: str
    etag: str | None = None
    size: int | None = None
    k: int | None = None
    action: str = PROCESS

    @property
    def id(self) -> str:
        """Deterministic: a redelivered event for the same object version is the same job,
        and a removal never shares its id with the processing of the same version."""
        parts = [self.bucket, self.key, normalise_etag(self.etag) or ""]
        if self.action != PROCESS:
            parts.insert(0, self.action)
        raw = "\0".join(parts)
        return "palette-" + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]

    @property
    def task_name(self) -> str:
        return REMOVE_TASK_NAME if self.action == REMOVE else TASK_NAME

    def to_message(self) -> dict[str, object]:
        """The task's ``job`` argument; ``action`` only when it is not the default, so a
        processing message reads the same to workers of every release."""
        message = {name: value for name, value in asdict(self).items() if value is not None}
        if self.action == PROCESS:
            del message["action"]
        return message

    @classmethod
    def from_message(cls, message: dict[str, object]) -> Job:
        return cls(
            bucket=str(message["bucket"]),
            key=str(message["key"]),
            etag=normalise_etag(message.get("etag")),  # type: ignore[arg-type]
            size=_optional_int(message.get("size")),
            k=_optional_int(message.get("k")),
            action=REMOVE if message.get("action") == REMOVE else PROCESS,
        )


def normalise_etag(etag: str | None) -> str | None:
    """S3 quotes ETags in headers but not in events; compare them bare."""
    if etag is None:
        return None
    bare = etag.strip().strip('"')
    return bare or None


def unsafe_key_reason(key: str) -> str | None:
    """Why ``key`` must be neither enqueued, read nor written; None when it is safe.

    S3 itself accepts these keys, but a filer-backed store (SeaweedFS, measured) resolves
    empty, ``.`` and ``..`` path segments: ``/a.png``, ``x//a.png`` and ``x/../a.png``
    name another object, so a job for them would overwrite that object's result or reach
    outside the bucket. One check, shared by the api_stub and the worker.
    """
    if not key:
        return "empty key"
    if any("\ud800" <= char <= "\udfff" for char in key):
        return "key is not valid Unicode (lone surrogate)"
    if len(key.encode("utf-8", "surrogatepass")) > (limit := outputs.max_image_key_bytes()):
        return f"key longer than {limit} bytes"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in key):
        return "control character in key"
    if any(segment in {"", ".", ".."} for segment in key.split("/")):
        return "empty, '.' or '..' path segment in key"
    return None


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
