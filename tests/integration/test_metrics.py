"""Prometheus metrics of the real stack: the worker's /metrics counts the jobs it ran."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import upload, wait_for_result, wait_until
from tests.integration.test_faults import small_png

pytestmark = pytest.mark.integration


def worker_samples(stack: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    url = f"http://127.0.0.1:{stack.environ['PALETTE_METRICS_PORT']}/metrics"
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


DONE = ("palette_jobs_total", (("code", ""), ("outcome", "done")))
NOT_AN_IMAGE = ("palette_jobs_total", (("code", "not_an_image"), ("outcome", "failed")))


def test_worker_metrics_count_done_and_failed_jobs_by_stage(stack: Any) -> None:
    before = worker_samples(stack)
    etags = [
        upload(stack.s3, f"metrics/{n}.png", small_png((40 * n, 90, 200)), "image/png")
        for n in range(2)
    ]
    bad = upload(stack.s3, "metrics/bad.jpg", b"this is text, not a JPEG")
    for n, etag in enumerate(etags):
        wait_for_result(stack.s3, f"metrics/{n}.png", etag)
    wait_for_result(stack.s3, "metrics/bad.jpg", bad)

    def counted() -> bool:
        now = worker_samples(stack)
        return (
            now.get(DONE, 0) >= before.get(DONE, 0) + 2
            and now.get(NOT_AN_IMAGE, 0) >= before.get(NOT_AN_IMAGE, 0) + 1
        )

    assert wait_until(counted, timeout=10), worker_samples(stack)
    after = worker_samples(stack)
    for stage in ("download", "decode", "cluster", "render", "upload"):
        key = ("palette_job_seconds_count", (("stage", stage),))
        assert after[key] >= before.get(key, 0) + 2, stage
    bytes_in = ("palette_job_bytes_in_total", ())
    assert after[bytes_in] > before.get(bytes_in, 0)
