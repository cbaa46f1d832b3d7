"""What the S3 relay costs: the same requests through it and straight to SeaweedFS.

Run:  .venv/bin/python benchmarks/bench_relay.py [--requests 1000] [--kib 100]

A private stack bound to 127.0.0.2 (``palette stack up --bind``; loopback, yet not
127.0.0.1, so the relay runs, ``infra.relay``), no worker. ``--requests`` PUTs then GETs
of ``--kib`` KiB objects, one at a time with one boto3 client, first through the relay
(the stack's S3 endpoint), then straight to SeaweedFS's own S3 port on 127.0.0.1, then
through the relay again. Printed: wall time per request for each pass, and the relay
process's CPU (utime + stime from psutil) per request and per MiB relayed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import stack as stack_mod  # noqa: E402
from infra.components import weed_s3_port  # noqa: E402
from infra.private_stack import private_environ, start  # noqa: E402
from infra.state import load  # noqa: E402
from worker.storage import s3_client  # noqa: E402

BUCKET = "bench-relay"


def cpu_s(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def one_pass(client: Any, count: int, body: bytes, tag: str) -> float:
    """Seconds per request over ``count`` PUTs and ``count`` GETs."""
    started = time.monotonic()
    for n in range(count):
        client.put_object(Bucket=BUCKET, Key=f"{tag}/{n}", Body=body)
    for n in range(count):
        client.get_object(Bucket=BUCKET, Key=f"{tag}/{n}")["Body"].read()
    return (time.monotonic() - started) / (2 * count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--kib", type=int, default=100)
    args = parser.parse_args(argv)
    body = os.urandom(args.kib * 1024)
    with tempfile.TemporaryDirectory(prefix="palette-relay-") as tmp:
        stack_dir = Path(tmp) / "stack"
        handle = start(stack_dir, private_environ(stack_dir), workers=0, bind="127.0.0.2")
        try:
            state = load(stack_dir)
            assert state is not None
            relay_pid = state.procs["s3_relay"].pid
            direct = f"http://127.0.0.1:{weed_s3_port(state)}"
            relayed = s3_client(handle.settings, timeout=30)
            straight = s3_client(handle.settings, endpoint=direct, timeout=30)
            relayed.create_bucket(Bucket=BUCKET)
            one_pass(relayed, 20, body, "warm")
            one_pass(straight, 20, body, "warm")
            rows = []
            for name, client in (("relay", relayed), ("direct", straight), ("relay", relayed)):
                cpu_before = cpu_s(relay_pid)
                per_request = one_pass(client, args.requests, body, name)
                rows.append((name, per_request, cpu_s(relay_pid) - cpu_before))
        finally:
            stack_mod.down(stack_dir, purge=True)
    mib = 2 * args.requests * args.kib / 1024
    print(f"{args.requests} PUTs + {args.requests} GETs of {args.kib} KiB, one at a time:")
    for name, per_request, relay_cpu in rows:
        print(
            f"  {name:<6} {per_request * 1000:6.2f} ms/request   relay CPU "
            f"{relay_cpu * 1000 / (2 * args.requests):5.3f} ms/request, "
            f"{relay_cpu * 1000 / mib:5.2f} ms/MiB"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
