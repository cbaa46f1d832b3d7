"""CPU per S3 request: ``S3Storage``'s short road against the full boto3 call.

Run:  .venv/bin/python benchmarks/bench_storage.py [--requests 300] [--rounds 5]

Starts a private stack (``infra.private_stack``), then times the worker's hot calls —
GET of a ~70 KB photo, PUT of a 3 KB JSON, HEAD of a missing key — through the same
``S3Storage`` with and without its short road, alternating rounds so both see the same
machine. CPU is this process's (``time.process_time``), per request, in µs: min and
median over the rounds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.storage.s3 import S3Storage

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PHOTO = ROOT / "docs" / "samples" / "coffee.jpg"


def cpu_us(call: Callable[[], object], requests: int) -> float:
    call()
    started = time.process_time()
    for _ in range(requests):
        call()
    return (time.process_time() - started) / requests * 1e6


def calls(s: S3Storage) -> dict[str, Callable[[], object]]:
    return {
        "GET 70 KB": lambda: s.fetch("images", "bench/photo.jpg"),
        "PUT 3 KB": lambda: s.put("palettes", "bench/doc.json", b"x" * 3000, "application/json"),
        "HEAD 404": lambda: s.head("palettes", "bench/missing.json"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per timing")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds")
    args = parser.parse_args(argv)

    from infra.private_stack import private_stack
    from worker.storage.s3 import S3Storage

    with private_stack(prefix="palette-bench-storage-") as stack:
        short, full = S3Storage(stack.settings), S3Storage(stack.settings)
        full._short = None  # the same class, every request through boto3
        short.put("images", "bench/photo.jpg", PHOTO.read_bytes(), "image/jpeg")
        roads = {"short road": calls(short), "boto3": calls(full)}
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for road, named in roads.items():
                for name, call in named.items():
                    results.setdefault((road, name), []).append(cpu_us(call, args.requests))
    print(f"CPU per request (µs), {args.rounds} rounds × {args.requests} requests")
    print(f"{'request':<10} {'short min':>9} {'short med':>9} {'boto3 min':>9} {'boto3 med':>9}")
    for name in roads["boto3"]:
        cells = []
        for road in roads:
            values = results[(road, name)]
            cells += [f"{min(values):9.0f}", f"{statistics.median(values):9.0f}"]
        print(f"{name:<10} " + " ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
