"""The one place a raw boto3 S3 client is built.

Everything that reads or writes objects goes through ``Storage`` (``make_storage``);
a raw client is for what that seam does not cover: presigning the page's upload policy
(api_stub), creating the native stack's buckets (infra), and tests and benchmarks acting
as a user of the buckets. Every one of them gets the same credentials (the settings',
else boto3's chain; session tokens included), addressing and checksum rules, so a
client that works in one place works in all of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from worker.config import Settings

if TYPE_CHECKING:
    import botocore.session
    from botocore.config import Config


def s3_client(
    settings: Settings,
    *,
    endpoint: str | None = None,
    timeout: float | None = None,
    attempts: int = 4,
    pool: int = 10,
    botocore_session: botocore.session.Session | None = None,
) -> Any:
    """A boto3 S3 client for ``settings``.

    ``endpoint`` replaces ``settings.s3_endpoint`` (the api_stub signs for the address
    browsers reach); ``timeout`` (connect and read, seconds) defaults to
    ``settings.s3_timeout``; ``attempts`` counts the first try (botocore's standard
    retries, with backoff; 1: none); ``pool`` is the most connections kept open;
    ``botocore_session`` is for a caller that needs its credentials too (``S3Storage``
    signs its short road with them). boto3 is imported here, not at import time.
    """
    import boto3

    session = boto3.session.Session(
        aws_access_key_id=settings.access_key,
        aws_secret_access_key=settings.secret_key,
        aws_session_token=settings.session_token,
        region_name=settings.region,
        botocore_session=botocore_session,
    )
    url = endpoint or settings.s3_endpoint
    limit = settings.s3_timeout if timeout is None else timeout
    return session.client("s3", endpoint_url=url, config=client_config(url, limit, attempts, pool))


def client_config(endpoint: str | None, timeout: float, attempts: int, pool: int) -> Config:
    """botocore's ``Config`` for a client of ``endpoint`` (None: AWS itself)."""
    from botocore.config import Config

    return Config(
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"total_max_attempts": attempts, "mode": "standard"},
        max_pool_connections=pool,
        # SigV4 for presigned URLs and POST policies too (botocore still presigns S3 with
        # SigV2 by default, which SeaweedFS refuses); a request's own auth type from the
        # endpoint rules (S3 Express) still wins for calls.
        signature_version="s3v4",
        # Path style for explicit endpoints (SeaweedFS, MinIO); AWS decides for itself.
        s3={"addressing_style": "path" if endpoint else "auto"},
        # SeaweedFS and older MinIO reject the checksum trailers newer botocore adds.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
