"""Every storage event format we receive, parsed into jobs: pure, no I/O, no settings.

A payload is recognised by its shape, not by who sent it::

    {"Records": [{"s3": …}]}                 S3 notification: MinIO, AWS, Ceph
    {"Records": [{"body": "<json>"}]}        SQS message(s) wrapping any payload here (Lambda)
    {"Records": [{"Sns": {"Message": …}}]}   SNS notification wrapping one (Lambda)
    {"Type": "Notification", "Message": …}   SNS envelope (SNS -> SQS without raw delivery)
    {"Event": "s3:TestEvent", …}             AWS's "your notification works" message: ignored
    {"event_type": …, "key": "/buckets/…"}   SeaweedFS filer webhook

Every record ends either as a ``Job`` for the configured input bucket (to process a new
object, or, for ``ObjectRemoved:*`` and a SeaweedFS ``delete``, to remove the results of
one that is gone) or as an ``Ignored``
with a stable reason, because a store that keeps getting errors for an event it will
never stop sending (MinIO's queue replays one event until it is accepted) blocks every
later event: the HTTP layer answers 2xx for everything ignored here.

Keys: S3 notifications carry them form-encoded (``+`` is a space, ``%2B`` a plus) and
``unquote_plus`` is right for all three S3 servers; SeaweedFS sends them raw.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from worker.jobs import PROCESS, REMOVE, Job, normalise_etag, unsafe_key_reason

MAX_NESTING = 3
"""SQS inside SNS inside Records is the deepest real wrapping; more is not ours."""

"""S3 keys are at most 1024 UTF-8 bytes and the result key appends ``.json``."""

_METADATA_ONLY = frozenset(
    {"ObjectCreated:PutTagging", "ObjectCreated:DeleteTagging", "ObjectCreated:PutRetention"}
    | {"ObjectCreated:PutLegalHold"}
)
"""MinIO files these under ObjectCreated although the bytes (and the ETag) stay the same."""

_REMOVED = ("ObjectRemoved:", "LifecycleExpiration:")
"""Event names of an object that is gone (a delete, a delete marker, an expiry): its
results go too."""

_SEAWEED_PREFIX = "/buckets/"
_SEAWEED_SYSTEM_BUCKET = ".system"
_SEAWEED_MULTIPART_DIR = ".uploads/"
_SEAWEED_ETAG = "Seaweed-X-Amz-ETag"


class EventFormatError(ValueError):
    """The body is not JSON at all: the only thing the HTTP layer answers 400 to."""


@dataclass(frozen=True)
class Ignored:
    """A record we deliberately produce no job for; ``reason`` is a stable code for logs."""

    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Parsed:
    """Jobs (deduplicated by job id, in arrival order) and everything ignored."""

    jobs: tuple[Job, ...] = ()
    ignored: tuple[Ignored, ...] = field(default=())

    def reasons(self) -> dict[str, int]:
        """How many records were ignored for each reason, for the response and logs."""
        counts: dict[str, int] = {}
        for item in self.ignored:
            counts[item.reason] = counts.get(item.reason, 0) + 1
        return counts


def parse_body(body: bytes, input_bucket: str) -> Parsed:
    """Parse an HTTP body; raises ``EventFormatError`` only when it is not JSON."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise EventFormatError(f"event body is not JSON: {exc}") from exc
    return parse_event(payload, input_bucket)


def parse_event(payload: Any, input_bucket: str) -> Parsed:
    """Jobs for ``input_bucket`` from an already-decoded payload of any known format."""
    return _collect(_walk(payload, input_bucket, depth=0))


def _collect(items: Iterable[Job | Ignored]) -> Parsed:
    jobs: dict[str, Job] = {}
    ignored: list[Ignored] = []
    for item in items:
        if isinstance(item, Job):
            jobs.setdefault(item.id, item)
        else:
            ignored.append(item)
    return Parsed(tuple(jobs.values()), tuple(ignored))


def _walk(payload: Any, input_bucket: str, depth: int) -> Iterable[Job | Ignored]:
    """Dispatch on shape; wrappers recurse with ``depth + 1``."""
    if depth > MAX_NESTING:
        return [Ignored("too_deeply_nested")]
    if not isinstance(payload, Mapping):
        return [Ignored("unrecognised_payload", type(payload).__name__)]
    if isinstance(payload.get("Records"), list):
        return _records(payload["Records"], input_bucket, depth)
    if payload.get("Event") == "s3:TestEvent":
        return [Ignored("s3_test_event", str(payload.get("Bucket", "")))]
    if payload.get("Type") == "Notification" and "Message" in payload:
        return _wrapped(payload["Message"], input_bucket, depth)
    if "event_type" in payload and "key" in payload:
        return [_seaweed(payload, input_bucket)]
    return [Ignored("unrecognised_payload", ",".join(sorted(map(str, payload))[:8]))]


def _records(records: list[Any], input_bucket: str, depth: int) -> Iterable[Job | Ignored]:
    for record in records:
        if not isinstance(record, Mapping):
            yield Ignored("malformed_record", "record is not an object")
        elif "s3" in record:
            yield _s3_record(record, input_bucket)
        elif isinstance(record.get("Sns"), Mapping):
            yield from _wrapped(record["Sns"].get("Message"), input_bucket, depth)
        elif "body" in record:
            yield from _wrapped(record["body"], input_bucket, depth)
        else:
            yield Ignored("malformed_record", "record has neither s3, Sns nor body")


def _wrapped(inner: Any, input_bucket: str, depth: int) -> Iterable[Job | Ignored]:
    """SNS ``Message`` and SQS ``body`` are JSON documents inside a string."""
    if isinstance(inner, str):
        try:
            inner = json.loads(inner)
        except ValueError:
            return [Ignored("malformed_record", "wrapped message is not JSON")]
    return _walk(inner, input_bucket, depth + 1)


def _s3_record(record: Mapping[str, Any], input_bucket: str) -> Job | Ignored:
    """One S3 ``Records`` entry; MinIO prefixes event names with ``s3:``, AWS does not."""
    name = str(record.get("eventName", ""))
    kind = name.removeprefix("s3:")
    removed = kind.startswith(_REMOVED)
    if not kind.startswith("ObjectCreated:") and not removed:
        return Ignored("other_event", name)
    if kind in _METADATA_ONLY:
        return Ignored("metadata_only", name)
    try:
        bucket = str(record["s3"]["bucket"]["name"])
        obj = record["s3"]["object"]
        key = unquote_plus(str(obj["key"]), errors="strict")
    except (KeyError, TypeError) as exc:
        return Ignored("malformed_record", f"missing {exc}")
    except UnicodeDecodeError:
        return Ignored("malformed_record", "key is not UTF-8 once decoded")
    if removed:
        return _job(bucket, key, input_bucket, etag=None, size=None, action=REMOVE)
    etag = obj.get("eTag", obj.get("etag"))
    return _job(bucket, key, input_bucket, etag=_etag_or_none(etag), size=obj.get("size"))


def _seaweed(event: Mapping[str, Any], input_bucket: str) -> Job | Ignored:
    """A filer event: ``create``/``update`` of a file under ``/buckets/<input>/`` is a job
    to process it, ``delete`` one to remove its results."""
    event_type, path = str(event.get("event_type")), str(event.get("key"))
    if event_type not in {"create", "update", "delete"}:
        return Ignored("other_event", f"{event_type} {path}")
    message = event.get("message")
    side = "old_entry" if event_type == "delete" else "new_entry"
    entry = message.get(side) if isinstance(message, Mapping) else None
    if not isinstance(entry, Mapping):
        return Ignored("malformed_record", f"no {side}")
    if entry.get("is_directory"):
        return Ignored("directory", path)
    if not path.startswith(_SEAWEED_PREFIX) or "/" not in path[len(_SEAWEED_PREFIX) :]:
        return Ignored("outside_buckets", path)
    bucket, key = path[len(_SEAWEED_PREFIX) :].split("/", 1)
    if bucket == _SEAWEED_SYSTEM_BUCKET:
        return Ignored("system", path)
    if bucket == input_bucket and key.startswith(_SEAWEED_MULTIPART_DIR):
        return Ignored("multipart_part", path)
    if event_type == "delete":
        return _job(bucket, key, input_bucket, etag=None, size=None, action=REMOVE)
    attributes = entry.get("attributes")
    size = attributes.get("file_size") if isinstance(attributes, Mapping) else None
    return _job(bucket, key, input_bucket, etag=_seaweed_etag(entry), size=size)


def _job(
    bucket: str,
    key: str,
    input_bucket: str,
    etag: str | None,
    size: Any,
    action: str = PROCESS,
) -> Job | Ignored:
    """The checks every format shares: our bucket only, and a key that cannot escape it."""
    if bucket != input_bucket:
        return Ignored("other_bucket", bucket)
    reason = unsafe_key_reason(key)
    if reason is not None:
        return Ignored("unsafe_key", reason)
    size = _int_or_none(size)
    return Job(bucket=bucket, key=key, etag=normalise_etag(etag), size=size, action=action)


def _seaweed_etag(entry: Mapping[str, Any]) -> str | None:
    """The S3 ETag SeaweedFS will answer a GET with: base64 text in ``extended``, else md5.

    Multipart objects have no ``md5`` attribute but do carry ``<hex>-<parts>`` in
    ``extended``; an object with neither gets None and the worker trusts the ETag of its
    own GET.
    """
    extended = entry.get("extended")
    if isinstance(extended, Mapping) and isinstance(extended.get(_SEAWEED_ETAG), str):
        try:
            return base64.b64decode(extended[_SEAWEED_ETAG], validate=True).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            pass
    attributes = entry.get("attributes")
    md5 = attributes.get("md5") if isinstance(attributes, Mapping) else None
    if isinstance(md5, str):
        try:
            digest = base64.b64decode(md5, validate=True)
        except ValueError:
            return None
        return digest.hex() if len(digest) == 16 else None
    return None


def _etag_or_none(value: Any) -> str | None:
    """ETags are printable ASCII; anything else is dropped (the worker's GET has the real one)."""
    if value is None:
        return None
    text = str(value)
    return text if text.isascii() and text.isprintable() else None


def _int_or_none(value: Any) -> int | None:
    """Ceph sends sizes as strings; a nonsense size (``"x"``, ``1e999``, NaN) is dropped."""
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError, OverflowError):
        return None
