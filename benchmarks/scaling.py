"""The numbers that decide a deployment: CPU per image by component, Redis per image.

Run:  .venv/bin/python benchmarks/scaling.py [--images 60] [--workers 1,2]

For each worker concurrency, a private stack (SeaweedFS, its own Redis, api_stub,
worker) in a temporary directory; ``--images`` distinct corpus photos are uploaded one
after another and the run ends when every one has its current result. Printed per run:

* CPU ms per image of each component's process tree (utime+stime from psutil, read
  before the first upload and after the last result), and images/s;
* Redis commands per image by command (``INFO commandstats`` before/after) and bytes
  per image in and out (``INFO stats`` total_net_input/output_bytes);
* S3 requests per image by bucket and type, as SeaweedFS's gateway counted them (its own
  metrics: the uploader's PUT, the worker's and api_stub's requests, all of them), and
  their AWS price per million images (``benchmarks/s3_requests.py``).

The sweep's listing at scale is ``benchmarks/bench_sweep.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_pipeline import tree_cpu_s  # noqa: E402
from benchmarks.cluster import images, upload_all, wait_all  # noqa: E402
from benchmarks.s3_requests import report, request_counts  # noqa: E402
from infra.private_stack import private_stack  # noqa: E402
from infra.seaweed import metrics_url  # noqa: E402
from infra.state import load  # noqa: E402
from worker.storage import make_storage  # noqa: E402

COMPONENTS = ("worker", "seaweedfs", "api_stub", "redis")
SETTLE_S = 1.0
"""After the last result appears: its job's remaining requests (none expected) land."""


def redis_counters(url: str) -> dict[str, int]:
    import redis

    client = redis.Redis.from_url(url)
    try:
        stats = client.info("commandstats")
        net = client.info("stats")
    finally:
        client.close()
    counters = {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}
    counters["bytes in"] = int(net["total_net_input_bytes"])
    counters["bytes out"] = int(net["total_net_output_bytes"])
    return counters


def cpu(handle: Any) -> dict[str, float]:
    return {
        name: tree_cpu_s(proc.pid) if (proc := handle.proc(name)) else 0.0 for name in COMPONENTS
    }


def run(workers: int, count: int) -> None:
    with private_stack(workers=workers, prefix="palette-scaling-") as handle:
        settings = handle.settings
        storage = make_storage(settings)
        warm = images(4)
        wait_all(storage, settings.output_bucket, upload_all(storage, "images", warm), 300)
        batch = [(f"run/{key}", data) for key, data in images(count + 4)[4:]]
        s3_url, jobs_url = _s3_metrics(handle.stack_dir), _worker_metrics(handle.environ)
        done_before = jobs_done(jobs_url)
        cpu_before, redis_before = cpu(handle), redis_counters(settings.broker_url)
        s3_before = request_counts(s3_url)
        started = time.monotonic()
        etags = upload_all(storage, settings.input_bucket, batch)
        ended = wait_done(jobs_url, done_before + count, 900)
        time.sleep(SETTLE_S)  # the worker's last acknowledgements and log lines
        cpu_after, redis_after = cpu(handle), redis_counters(settings.broker_url)
        s3_after = request_counts(s3_url)
        wait_all(storage, settings.output_bucket, etags, 60)  # each result is there, current
        storage.close()  # type: ignore[attr-defined]
    seconds = ended - started
    print(f"\nworker processes: {workers}   {count} images in {seconds:.1f} s")
    print(f"  images/s: {count / seconds:.1f}")
    for name in COMPONENTS:
        per = (cpu_after[name] - cpu_before[name]) * 1000 / count
        print(f"  CPU {name:<10} {per:7.2f} ms/image")
    calls = {
        name: (redis_after.get(name, 0) - redis_before.get(name, 0)) / count for name in redis_after
    }
    for name, per in sorted(calls.items(), key=lambda item: -item[1]):
        if per >= 0.01 and not name.startswith("bytes"):
            print(f"  redis {name:<14} {per:7.2f} calls/image")
    total = sum(v for k, v in calls.items() if not k.startswith("bytes"))
    print(f"  redis all commands {total:7.2f} calls/image")
    print(f"  redis bytes in/out {calls['bytes in']:.0f} / {calls['bytes out']:.0f} per image")
    print("\n".join(report(s3_before, s3_after, count)))


def _worker_metrics(environ: dict[str, str]) -> str:
    return f"http://127.0.0.1:{environ['PALETTE_METRICS_PORT']}/metrics"


def jobs_done(url: str) -> int:
    """``palette_jobs_total{outcome="done"}`` of the worker: results written."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    return sum(
        int(sample.value)
        for family in text_string_to_metric_families(text)
        if family.name == "palette_jobs"
        for sample in family.samples
        if sample.name == "palette_jobs_total" and sample.labels.get("outcome") == "done"
    )


def wait_done(url: str, target: int, timeout: float) -> float:
    """Wait for the worker's own count, not by reading results: polling GETs would be
    counted as the pipeline's S3 requests. The time it happened (monotonic)."""
    deadline = time.monotonic() + timeout
    while jobs_done(url) < target:
        if time.monotonic() > deadline:
            raise SystemExit(f"fewer than {target} jobs done after {timeout} s")
        time.sleep(0.2)
    return time.monotonic()


def _s3_metrics(stack_dir: Path) -> str:
    state = load(stack_dir)
    url = metrics_url(state.ports) if state else None
    if url is None:
        raise SystemExit("this stack exposes no SeaweedFS metrics")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args(argv)
    for workers in (int(w) for w in args.workers.split(",")):
        run(workers, args.images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
