"""The sweep at scale: time, peak memory and S3 requests, before and after the streamed walk.

Run:  .venv/bin/python benchmarks/bench_sweep.py [--images 50000] [--done 0.9]

A private stack (SeaweedFS, no worker) with two buckets of the benchmark's own (no
storage event fires for them): ``--images`` tiny input objects under 100 prefixes, and
for a ``--done`` fraction of them a current result (JSON + PNG, as the worker writes
them), so the rest must be found and "enqueued" (counted, not sent). Then each variant
sweeps both buckets in a fresh process, one after the other on the same data:

* ``before``: ``worker/sweep.py`` as it was until issue 10 item 7 (the output listing
  held as a set of keys, the input bucket listed a second time to count it);
* ``after``: ``worker.sweep.sweep`` (both listings walked once, side by side).

Printed per variant: wall time, the process's peak RSS during the sweep above its RSS
just before it (sampled every 10 ms; boto3, its models and the imports are in the
baseline), images scanned and
enqueued, and the S3 requests SeaweedFS's gateway counted during it, by type and bucket
(the child's warm-up included: 1 LIST of the inputs, 1 GET of a missing result).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.s3_requests import request_counts  # noqa: E402
from infra.private_stack import private_stack  # noqa: E402
from infra.seaweed import metrics_url  # noqa: E402
from infra.state import load  # noqa: E402
from worker import __version__, freshness, outputs  # noqa: E402
from worker.config import Settings  # noqa: E402
from worker.jobs import Job  # noqa: E402
from worker.storage import Storage, get_json, make_storage  # noqa: E402
from worker.sweep import is_stale, sweep  # noqa: E402

INPUT, OUTPUT = "bench-sweep-in", "bench-sweep-out"
PREFIXES = 100
THREADS = 12


def sweep_before(storage: Storage, settings: Settings, enqueue: Callable[[Job], object]) -> int:
    """``worker/sweep.py`` as of 88dec46, for comparison: the output bucket's keys held in
    a set, then the input listing walked, then listed again to count it. Returns scanned."""
    results = {info.key for info in storage.list(settings.output_bucket)}
    for info in storage.list(settings.input_bucket):
        json_key = outputs.PALETTE_JSON.key(info.key)
        present = json_key in results
        result = get_json(storage, settings.output_bucket, json_key) if present else None
        if is_stale(result, info, settings.default_k):
            enqueue(Job(bucket=info.bucket, key=info.key, etag=info.etag, size=info.size))
    return sum(1 for _ in storage.list(settings.input_bucket))


class PeakRss:
    """The highest RSS of this process while in the ``with`` block, sampled every 10 ms
    (``ru_maxrss`` would report the peak of start-up, imports included)."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.baseline = self.peak = self._process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)


def walk(variant: str) -> dict[str, Any]:
    """One sweep in this process (the child); its numbers as a dict."""
    settings = Settings.from_env(dict(os.environ))
    storage = make_storage(settings)
    next(iter(storage.list(settings.input_bucket)), None)  # boto3 loads its models, once
    get_json(storage, settings.output_bucket, "warm-up.json")
    enqueued: list[int] = [0]

    def count(job: Job) -> None:
        enqueued[0] += 1

    with PeakRss() as rss:
        started = time.monotonic()
        if variant == "before":
            scanned = sweep_before(storage, settings, count)
        else:
            scanned = sweep(storage, settings, count).scanned
        seconds = time.monotonic() - started
    storage.close()  # type: ignore[attr-defined]
    return {
        "seconds": seconds,
        "peak_growth_mb": (rss.peak - rss.baseline) / 2**20,
        "scanned": scanned,
        "enqueued": enqueued[0],
    }


def _result(etag: str, default_k: int) -> bytes:
    doc = {
        "status": "done",
        "source": {"etag": etag, "metadata": {}},
        "options": freshness.expected_options({}, default_k),
        "worker": {"version": __version__, "host": "bench"},
    }
    return json.dumps(doc).encode()


def populate(storage: Storage, settings: Settings, images: int, done: float) -> None:
    """Inputs under ``PREFIXES`` prefixes; a current JSON + PNG for each ``done`` one."""

    def one(n: int) -> None:
        key = f"p{n % PREFIXES:02d}/img{n:07d}.jpg"
        etag = storage.put(INPUT, key, f"image {n}".encode(), "image/jpeg")
        if (n * 7919 % 1000) < done * 1000:
            json_key, png_key = outputs.PALETTE_JSON.key(key), outputs.BAR.key(key)
            storage.put(OUTPUT, json_key, _result(str(etag), settings.default_k), "")
            storage.put(OUTPUT, png_key, b"bar", "image/png")

    started = time.monotonic()
    with ThreadPoolExecutor(THREADS) as pool:
        for done_count, _ in enumerate(pool.map(one, range(images)), 1):
            if done_count % 10000 == 0 or done_count == images:
                rate = done_count / (time.monotonic() - started)
                print(f"  populated {done_count} images ({rate:.0f}/s)", flush=True)


def run_variant(variant: str, env: dict[str, str], s3_url: str) -> None:
    before = request_counts(s3_url)
    child = subprocess.run(
        [sys.executable, __file__, "--walk", variant],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    delta = request_counts(s3_url) - before
    numbers = json.loads(child.stdout.strip().splitlines()[-1])
    requests = ", ".join(
        f"{kind} {bucket.removeprefix('bench-sweep-')} {count}"
        for (bucket, kind, _code), count in sorted(delta.items())
    )
    print(
        f"{variant:<7} {numbers['seconds']:7.1f} s   peak RSS +{numbers['peak_growth_mb']:6.1f} MB"
        f"   scanned {numbers['scanned']}, enqueued {numbers['enqueued']}   S3: {requests}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50_000)
    parser.add_argument("--done", type=float, default=0.9)
    parser.add_argument("--variants", default="before,after", help="in this order")
    parser.add_argument("--walk", choices=["before", "after"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.walk:
        print(json.dumps(walk(args.walk)))
        return 0
    with private_stack(workers=0, prefix="palette-sweep-") as handle:
        state = load(handle.stack_dir)
        s3_url = metrics_url(state.ports) if state else None
        assert s3_url, "this stack exposes no SeaweedFS metrics"
        settings = handle.settings.with_overrides(input_bucket=INPUT, output_bucket=OUTPUT)
        storage = make_storage(settings)
        for bucket in (INPUT, OUTPUT):
            storage.client.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        print(f"{args.images} images, {args.done:.0%} with a current result (JSON + PNG):")
        populate(storage, settings, args.images, args.done)
        storage.close()  # type: ignore[attr-defined]
        time.sleep(1.0)  # SeaweedFS counts a request just after answering it
        env = {**os.environ, **handle.env, "PALETTE_INPUT_BUCKET": INPUT}
        env["PALETTE_OUTPUT_BUCKET"] = OUTPUT
        for variant in args.variants.split(","):
            run_variant(variant, env, s3_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
