"""The worker's /metrics: counts from every pool process, and a credential beyond loopback.

Multiprocess mode is chosen when ``prometheus_client`` is imported, so the prefork case
runs in a fresh interpreter that forks its own "pool children", as Celery's does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.processes import pick_port_pair
from worker import metrics

ROOT = Path(__file__).resolve().parents[3]

FORKING_WORKER = textwrap.dedent(
    """
    import os, sys, time, urllib.request
    from worker import metrics
    directory = metrics.prepare_multiprocess_dir(os.environ)
    children = []
    for child in range(3):  # three pool processes, each with its own jobs
        pid = os.fork()
        if pid == 0:
            jobs = metrics.JobMetrics()
            for n in range(child + 1):
                jobs.observe("done", "", {"download": 2.0, "decode": 5.0, "upload": 3.0}, 1000)
            jobs.observe("failed", "not_an_image", {"download": 1.0})
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    server = metrics.serve(os.environ, directory)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    sys.stdout.write(urllib.request.urlopen(url, timeout=10).read().decode())
    metrics.remove_multiprocess_dir(directory, os.environ)
    """
)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_counts_of_every_pool_process_are_summed_by_the_parent() -> None:
    port = pick_port_pair(set(), low=30000, high=32000)
    env = {k: v for k, v in os.environ.items() if k != metrics.ENV_DIR}
    env.update(PALETTE_METRICS_PORT=str(port), PYTHONPATH=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", FORKING_WORKER], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    found = samples(out.stdout)
    assert found[("palette_jobs_total", (("code", ""), ("outcome", "done")))] == 1 + 2 + 3
    failed = (("code", "not_an_image"), ("outcome", "failed"))
    assert found[("palette_jobs_total", failed)] == 3
    assert found[("palette_job_seconds_count", (("stage", "download"),))] == 6 + 3
    assert found[("palette_job_seconds_count", (("stage", "decode"),))] == 6
    assert found[("palette_job_seconds_sum", (("stage", "decode"),))] == pytest.approx(0.030)
    assert ("palette_job_seconds_count", (("stage", "cluster"),)) not in found
    assert found[("palette_job_bytes_in_total", ())] == 6000


def _get(url: str, token: str | None = None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_beyond_loopback_metrics_need_the_api_token(tmp_path: Path) -> None:
    port = pick_port_pair(set(), low=30000, high=32000)
    env = {"PALETTE_METRICS_ADDR": "0.0.0.0", "PALETTE_METRICS_PORT": str(port)}
    assert metrics.serve(env, tmp_path) is None, "no token: must not listen beyond loopback"
    server = metrics.serve({**env, "PALETTE_API_TOKEN": "s3cret"}, tmp_path)
    assert server is not None
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        assert _get(url) == 401
        assert _get(url, "wrong") == 401
        assert _get(url, "s3cret") == 200
    finally:
        server.shutdown()
        server.server_close()


def test_on_loopback_metrics_answer_without_a_credential(tmp_path: Path) -> None:
    port = pick_port_pair(set(), low=30000, high=32000)
    server = metrics.serve({"PALETTE_METRICS_PORT": str(port)}, tmp_path)
    assert server is not None
    try:
        assert server.server_address[0] == "127.0.0.1"
        assert _get(f"http://127.0.0.1:{port}/metrics") == 200
    finally:
        server.shutdown()
        server.server_close()


def test_a_taken_port_or_a_bad_setting_costs_the_metrics_not_the_worker(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = pick_port_pair(set(), low=30000, high=32000)
    first = metrics.serve({"PALETTE_METRICS_PORT": str(port)}, tmp_path)
    assert first is not None
    try:
        assert metrics.serve({"PALETTE_METRICS_PORT": str(port)}, tmp_path) is None
        assert metrics.serve({"PALETTE_METRICS_PORT": "http"}, tmp_path) is None
        assert metrics.serve({"PALETTE_METRICS_PORT": "0"}, tmp_path) is None
    finally:
        first.shutdown()
        first.server_close()
    assert "cannot listen" in caplog.text
    assert "must be a port number" in caplog.text


def test_a_chosen_directory_starts_empty_and_a_made_one_is_removed(tmp_path: Path) -> None:
    chosen = tmp_path / "chosen"
    chosen.mkdir()
    (chosen / "counter_123.db").write_bytes(b"old run")
    (chosen / "keep.txt").write_text("not ours")
    env = {metrics.ENV_DIR: str(chosen)}
    assert metrics.prepare_multiprocess_dir(env) == chosen
    assert sorted(p.name for p in chosen.iterdir()) == ["keep.txt"]
    metrics.remove_multiprocess_dir(chosen, env)
    assert chosen.is_dir(), "an operator's directory is never deleted"

    made_env: dict[str, str] = {}
    made = metrics.prepare_multiprocess_dir(made_env)
    assert made_env[metrics.ENV_DIR] == str(made)
    assert made.is_dir()
    metrics.remove_multiprocess_dir(made, made_env)
    assert not made.exists()
