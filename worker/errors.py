"""Every way a palette job can fail, and the stable code each one stores in the JSON.

The tree::

    PaletteError                      base; never raised directly
    ├── InternalError                 internal_error       a bug of ours, not the input's
    ├── PermanentError                store a failed JSON now, no task retry (the input is at fault)
    │   ├── NotAnImage                not_an_image         bytes are no image we recognise
    │   ├── UnsupportedFormat         unsupported_format   an image, but not an allowed format
    │   ├── TooLarge                  too_large            over PALETTE_MAX_BYTES / MAX_PIXELS
    │   ├── DecompressionBomb         decompression_bomb   tiny file, absurd dimensions
    │   ├── CorruptImage              corrupt_image        recognised but cannot be decoded
    │   ├── EmptyImage                empty_image          zero bytes or zero pixels
    │   ├── FullyTransparent          fully_transparent    no pixel is opaque enough to count
    │   ├── SourceMissing             source_missing       the object is gone
    │   ├── InvalidOptions            invalid_options      k or another option out of range
    │   ├── WorkerLost                worker_lost          killed its worker too many times *
    │   └── ProcessingTimeout         timeout              over the soft or hard time limit *
    └── TransientError                the world is at fault: retry with backoff
        ├── StorageUnavailable        storage_unavailable  S3 down, 5xx, throttled, timed out
        └── BrokerUnavailable         broker_unavailable   Redis down

(*) retryable although stored at once: a lost host or a stalled store cause these too.

Codes are part of the JSON contract: never rename one, only add. ``retryable`` says
whether the world was at fault rather than the input (every TransientError, and
``worker_lost`` and ``timeout``: a lost host or a stalled store kill jobs too): the sweep
tries those again, a bounded number of times (``worker.retries``).
"""

from __future__ import annotations


class PaletteError(Exception):
    """Root of every error this package raises on purpose."""

    code: str = "internal_error"
    retryable: bool = False
    """The same job may succeed later (stored as ``error.retryable``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def as_dict(self) -> dict[str, str | bool]:
        """The ``error`` object of a failed palette JSON (less its ``attempts``)."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class InternalError(PaletteError):
    """An exception no stage expected: stored as a failure so no upload goes unanswered."""

    code = "internal_error"


class PermanentError(PaletteError):
    """The input can never succeed: record the failure, do not retry."""


class NotAnImage(PermanentError):
    code = "not_an_image"


class UnsupportedFormat(PermanentError):
    code = "unsupported_format"


class TooLarge(PermanentError):
    code = "too_large"


class DecompressionBomb(PermanentError):
    code = "decompression_bomb"


class CorruptImage(PermanentError):
    code = "corrupt_image"


class EmptyImage(PermanentError):
    code = "empty_image"


class FullyTransparent(PermanentError):
    code = "fully_transparent"


class SourceMissing(PermanentError):
    code = "source_missing"


class InvalidOptions(PermanentError):
    code = "invalid_options"


class WorkerLost(PermanentError):
    code = "worker_lost"
    retryable = True


class ProcessingTimeout(PermanentError):
    code = "timeout"
    retryable = True


class TransientError(PaletteError):
    """Something outside the input failed; the same job may succeed later."""

    retryable = True


class StorageUnavailable(TransientError):
    code = "storage_unavailable"


class BrokerUnavailable(TransientError):
    code = "broker_unavailable"


def all_codes() -> set[str]:
    """Every code a stored JSON can carry; the contract tests pin this set."""
    found: set[str] = set()
    stack: list[type[PaletteError]] = [PaletteError]
    while stack:
        cls = stack.pop()
        found.add(cls.code)
        stack.extend(cls.__subclasses__())
    return found
