"""The hand-rolled SigV4 of ``worker.storage_fast`` signs exactly as botocore does."""

from __future__ import annotations

from datetime import UTC, datetime
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from worker.config import Settings
from worker.storage_fast import EMPTY_SHA256, SigV4, _host_header, usable

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def botocore_authorization(method: str, url: str, body: bytes) -> str:
    request = AWSRequest(method=method, url=url, data=body)
    auth = S3SigV4Auth(Credentials("AKEXAMPLE", "secret/key+x"), "s3", "us-east-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        auth.add_auth(request)
    return str(request.headers["Authorization"])


@pytest.mark.parametrize(
    ("method", "key", "body"),
    [
        ("HEAD", "cats/a.jpg", b""),
        ("GET", "my photos/a b+c ü%.png", b""),
        ("PUT", "x/y.json", b'{"status": "done"}'),
    ],
)
def test_signature_matches_botocore(method: str, key: str, body: bytes) -> None:
    import hashlib
    from urllib.parse import quote

    payload = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
    path = "/images/" + quote(key, safe="/~")
    ours = SigV4("AKEXAMPLE", "secret/key+x", "us-east-1").headers(
        method, "127.0.0.1:8333", path, payload, now=NOW
    )
    assert ours["Authorization"] == botocore_authorization(
        method, "http://127.0.0.1:8333" + path, body
    )


def test_host_header_leaves_out_default_ports() -> None:
    assert _host_header("minio", 80, https=False) == "minio"
    assert _host_header("minio", 9000, https=False) == "minio:9000"
    assert _host_header("s3.example", 443, https=True) == "s3.example"
    assert _host_header("::1", 8333, https=False) == "[::1]:8333"


def test_only_used_with_an_endpoint_and_static_keys() -> None:
    assert usable(Settings(s3_endpoint="http://x:1", access_key="a", secret_key="b"))
    assert not usable(Settings(access_key="a", secret_key="b"))  # AWS: boto3's chain
    assert not usable(Settings(s3_endpoint="http://x:1"))
