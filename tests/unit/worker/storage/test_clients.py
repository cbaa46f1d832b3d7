"""The one factory of raw boto3 clients: what every caller relies on it to carry.

Signing is local (no request is sent): presigned URLs and POST policies show the
credentials, endpoint and signature version a client was built with.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from worker.config import Settings
from worker.storage import s3_client

SETTINGS = Settings(
    s3_endpoint="http://seaweed:8333/s3",
    access_key="AKIDEXAMPLE",
    secret_key="secret-example-0123456789",
    session_token="session-token-example",
    region="eu-west-1",
)


def test_presigned_urls_are_sigv4_with_the_session_token_under_the_path_prefix() -> None:
    client = s3_client(SETTINGS)
    url = client.generate_presigned_url(
        "get_object", Params={"Bucket": "images", "Key": "a b.jpg"}, ExpiresIn=60
    )
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert (parts.netloc, parts.path) == ("seaweed:8333", "/s3/images/a%20b.jpg")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")
    assert "/eu-west-1/s3/" in query["X-Amz-Credential"][0]
    assert query["X-Amz-Security-Token"] == ["session-token-example"]


def test_a_post_policy_is_signed_for_the_endpoint_given_instead() -> None:
    client = s3_client(SETTINGS, endpoint="https://uploads.example.org")
    signed = client.generate_presigned_post("images", "uploads/x/a.png", ExpiresIn=60)
    assert signed["url"] == "https://uploads.example.org/images"
    assert signed["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    assert signed["fields"]["x-amz-security-token"] == "session-token-example"


def test_timeouts_attempts_and_pool_are_the_callers_or_the_settings() -> None:
    default = s3_client(SETTINGS).meta.config
    assert (default.connect_timeout, default.read_timeout) == (SETTINGS.s3_timeout,) * 2
    assert default.retries == {"total_max_attempts": 4, "mode": "standard"}
    short = s3_client(SETTINGS, timeout=2.5, attempts=1, pool=3).meta.config
    assert (short.connect_timeout, short.read_timeout) == (2.5, 2.5)
    assert short.retries["total_max_attempts"] == 1
    assert short.max_pool_connections == 3


def test_an_explicit_endpoint_is_addressed_by_path_and_aws_by_its_own_rule() -> None:
    assert s3_client(SETTINGS).meta.config.s3["addressing_style"] == "path"
    aws = s3_client(Settings(access_key="AKIDEXAMPLE", secret_key="x" * 20))
    assert aws.meta.config.s3["addressing_style"] == "auto"
    assert aws.meta.endpoint_url.startswith("https://")
