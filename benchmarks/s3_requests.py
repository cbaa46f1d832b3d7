"""S3 requests as the SeaweedFS gateway counted them, and what they would cost on AWS.

Counted at the server, not in a client: ``SeaweedFS_s3_request_total{type, code,
bucket}`` from SeaweedFS's own Prometheus endpoint (``infra.seaweed.metrics_url``, on
127.0.0.1), so every request of every component (worker, api_stub, the uploader) is in
it whatever endpoint each was given: no proxy, no client to reconfigure.

SeaweedFS labels a request by its own ``type``: ``PUT`` (objects and buckets), ``GET``
(GetObject *and* HeadObject/HeadBucket: weed/s3api/s3api_server.go routes HEAD with
``track(..., "GET")``), ``LIST``, ``DELETE``, ``POST``, ``COPY``. AWS bills HEAD at the
GET rate, so the price below is exact even though the two are not told apart.
"""

from __future__ import annotations

import urllib.request
from collections import Counter

PRICE_LIST = (
    "AWS S3 Standard, US East (N. Virginia): PUT, COPY, POST, LIST $0.005 per 1,000 "
    "requests; GET, HEAD and all other requests $0.0004 per 1,000; DELETE free "
    "(aws.amazon.com/s3/pricing, figures as quoted on 2026-12-02)"
)
TIER1_PER_REQUEST = 0.005 / 1000
TIER2_PER_REQUEST = 0.0004 / 1000
TIER1 = {"PUT", "COPY", "POST", "LIST"}
FREE = {"DELETE"}

Key = tuple[str, str, str]
"""(bucket, type, status code)."""


def request_counts(metrics_url: str) -> Counter[Key]:
    """Every S3 request the gateway has answered so far, by bucket, type and code."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=10) as response:
        text = response.read().decode()
    counts: Counter[Key] = Counter()
    for family in text_string_to_metric_families(text):
        if family.name != "SeaweedFS_s3_request":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                key = (labels.get("bucket", ""), labels.get("type", ""), labels.get("code", ""))
                counts[key] += int(sample.value)
    return counts


def price_per_request(kind: str) -> float:
    if kind in FREE:
        return 0.0
    return TIER1_PER_REQUEST if kind in TIER1 else TIER2_PER_REQUEST


def report(before: Counter[Key], after: Counter[Key], images: int) -> list[str]:
    """Lines: requests per image by bucket and type (status codes when not all 2xx), and
    the AWS price per million images."""
    delta = after - before
    by_kind: Counter[tuple[str, str]] = Counter()
    codes: dict[tuple[str, str], Counter[str]] = {}
    for (bucket, kind, code), count in delta.items():
        by_kind[bucket or "(none)", kind] += count
        codes.setdefault((bucket or "(none)", kind), Counter())[code] += count
    lines, dollars = [], 0.0
    for (bucket, kind), count in sorted(by_kind.items()):
        per_image = count / images
        cost = per_image * price_per_request(kind) * 1_000_000
        dollars += cost
        shown = ", ".join(f"{c}: {n}" for c, n in sorted(codes[bucket, kind].items()))
        lines.append(
            f"  s3 {bucket:<10} {kind:<6} {per_image:6.2f} requests/image  "
            f"${cost:7.2f} per million images  (codes {shown})"
        )
    total = sum(by_kind.values()) / images
    lines.append(f"  s3 all        {total:6.2f} requests/image  ${dollars:7.2f} per million images")
    lines.append(f"  price list: {PRICE_LIST}")
    return lines
