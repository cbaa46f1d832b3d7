"""Prometheus metrics of the real stack: the worker's /metrics counts the jobs it ran, the
api_stub's counts events and reads the queue, and the Grafana dashboard reads nothing else."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.helpers import upload, wait_for_result, wait_until
from tests.integration.test_faults import small_png

pytestmark = pytest.mark.integration


ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "infra" / "grafana" / "palette-worker.json"
EVENTS = ROOT / "tests" / "data" / "events"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def worker_samples(stack: Any) -> Samples:
    return scrape(f"http://127.0.0.1:{stack.environ['PALETTE_METRICS_PORT']}/metrics")


def api_samples(stack: Any) -> Samples:
    return scrape(f"{stack.api_url}/metrics")


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


def post_event(stack: Any, name: str) -> None:
    request = urllib.request.Request(
        f"{stack.api_url}/events",
        data=(EVENTS / name).read_bytes(),
        headers={
            "Authorization": f"Bearer {stack.settings.webhook_token}",
            "Content-Type": "application/json",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_api_stub_metrics_count_events_and_read_the_queue(stack: Any) -> None:
    before = api_samples(stack)
    etag = upload(stack.s3, "metrics/api.png", small_png((10, 200, 30)), "image/png")
    wait_for_result(stack.s3, "metrics/api.png", etag)
    post_event(stack, "seaweed_dir.json")
    after = api_samples(stack)
    enqueued = ("palette_events_enqueued_total", (("task", "process"),))
    accepted = ("palette_events_received_total", (("result", "accepted"),))
    directory = ("palette_events_ignored_total", (("reason", "directory"),))
    assert after[enqueued] >= before.get(enqueued, 0) + 1
    assert after[accepted] >= before.get(accepted, 0) + 2
    assert after[directory] >= before.get(directory, 0) + 1
    assert after[("palette_broker_up", ())] == 1
    assert after[("palette_queue_depth", ())] >= 0
    assert after[("palette_dead_letters", ())] >= 0


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_PROMQL_WORDS |= {"and", "or", "unless", "offset", "le"}


def promql_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (functions, keywords, labels dropped)."""
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    bare = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", bare)
    bare = re.sub(r"\b(?:by|without|on|ignoring)\s*\([^)]*\)", "", bare)
    names = re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", bare)
    return {name for name in names if name not in _PROMQL_WORDS}


def promql_labels(expr: str) -> set[str]:
    """Label names an expression groups by or matches on."""
    grouped = re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
    matched = re.findall(
        r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", "".join(re.findall(r"\{[^}]*\}", expr))
    )
    return {label.strip() for group in grouped for label in group.split(",")} | set(matched)


def test_promql_reader_finds_metrics_and_labels() -> None:
    expr = 'histogram_quantile(0.95, sum by (le, stage) (rate(a_b_bucket{x=~"y|z"}[5m]))) / c'
    assert promql_metrics(expr) == {"a_b_bucket", "c"}
    assert promql_labels(expr) == {"le", "stage", "x"}


def test_every_metric_and_label_the_dashboard_uses_is_in_a_real_scrape(stack: Any) -> None:
    """Scrapes of the real worker and api_stub after real jobs: a panel naming a metric or
    a label nobody exports would stay empty for ever without anyone noticing."""
    ok = upload(stack.s3, "metrics/dash.png", small_png((90, 20, 150)), "image/png")
    bad = upload(stack.s3, "metrics/dash-bad.jpg", b"not a JPEG either")
    wait_for_result(stack.s3, "metrics/dash.png", ok)
    wait_for_result(stack.s3, "metrics/dash-bad.jpg", bad)
    post_event(stack, "seaweed_dir.json")
    assert wait_until(lambda: DONE in worker_samples(stack), timeout=10)
    samples = {**worker_samples(stack), **api_samples(stack)}
    exported = {name for name, _ in samples}
    labels = {label for _, pairs in samples for label, _ in pairs}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    assert len(panels) >= 10
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used = promql_metrics(target["expr"])
            assert used, (panel["title"], target["expr"])
            assert used <= exported, (panel["title"], sorted(used - exported))
            assert promql_labels(target["expr"]) <= labels, (panel["title"], target["expr"])
