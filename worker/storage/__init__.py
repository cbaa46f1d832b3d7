"""Object storage behind one small seam, and the one place a client is built.

    Storage        the protocol: head · fetch · get · put · delete · list   (worker.storage.base)
    MemoryStorage  a dict, for unit tests of the layers above      (worker.storage.memory)
    S3Storage      any S3 server, through boto3/botocore            (worker.storage.s3)
    make_storage   Settings → the Storage every process uses
    s3_client      Settings → a raw boto3 client, for what the seam does not cover
                   (presigning, creating buckets, tests and benchmarks as users)
                                                                    (worker.storage.clients)

Adding an object store (GCS, Azure, a local directory) means one class with the six
methods of ``Storage``, raising the package's errors (``SourceMissing`` for an absent
object, ``StorageUnavailable`` for anything transient), a branch in ``make_storage``, and
a fixture in ``tests/integration/test_storage_contract.py`` so the shared cases run on it.
"""

from __future__ import annotations

from worker.config import Settings
from worker.storage.base import ObjectInfo, Storage, get_json
from worker.storage.clients import s3_client
from worker.storage.memory import MemoryStorage

__all__ = ["MemoryStorage", "ObjectInfo", "Storage", "get_json", "make_storage", "s3_client"]


def make_storage(settings: Settings) -> Storage:
    """The storage client for these settings: S3 (AWS, or ``PALETTE_S3_ENDPOINT``).

    Builds no connection until the first request; boto3 is imported here, not at import
    time, so producers and unit tests that never talk to S3 do not pay for it.
    """
    from worker.storage.s3 import S3Storage

    return S3Storage(settings)
