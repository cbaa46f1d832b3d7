"""Many hosts, one queue: images/s by host, and what losing a host costs.

Run (as root; hosts are network namespaces, see infra/netns.py):
    .venv/bin/python benchmarks/cluster.py [--hosts 2] [--images 120] [--concurrency 1]
        [--cut] [--visibility-timeout 10] [--sweep-interval 20]

Starts the services on a bridge address (``palette stack up --bind ADDR --workers 0``)
and ``--hosts`` worker hosts, each in its own namespace with its own hostname, HOME and
working directory, given nothing but ``palette stack env``'s exports. Uploads
``--images`` copies of the corpus photos (distinct keys and bytes), waits until every
one has its current result and prints, per host, the jobs it did and its images/s over
the batch (first upload → last result). ``--cut`` sets the first host's link down and
SIGKILLs its processes once it has done a few jobs, then reports how many jobs it held
and how long after the cut the last result came (the visibility timeout and the
restore scan bound it; the sweep is the backstop). Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infra import netns  # noqa: E402
from infra.cluster import Cluster, simulated_cluster  # noqa: E402
from worker.storage import get_json, make_storage  # noqa: E402

CORPUS = ROOT / "benchmarks" / "corpus"
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "china", "flower")


def images(count: int) -> list[tuple[str, bytes]]:
    """Distinct bytes per key: the photo plus four bytes after its end marker (ignored
    by decoders), so no two uploads share an ETag and none is skipped as done."""
    photos = [(CORPUS / f"{name}.jpg").read_bytes() for name in PHOTOS]
    return [
        (f"bench/{n:05d}.jpg", photos[n % len(photos)] + n.to_bytes(4, "big")) for n in range(count)
    ]


def upload_all(storage: Any, bucket: str, batch: list[tuple[str, bytes]]) -> dict[str, str]:
    """One keep-alive connection, one PUT after another (the workers are the bottleneck)."""
    return {key: storage.put(bucket, key, data, "image/jpeg") or "" for key, data in batch}


def wait_all(storage: Any, bucket: str, etags: dict[str, str], timeout: float) -> float:
    """Poll until every key's JSON records its etag; the time it happened (monotonic)."""
    pending = dict(etags)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, etag in list(pending.items()):
            doc = get_json(storage, bucket, key + ".json")
            if doc is not None and doc.get("source", {}).get("etag") == etag:
                del pending[key]
        time.sleep(0.2)
    if pending:
        raise SystemExit(f"{len(pending)} uploads without a current result after {timeout} s")
    return time.monotonic()


def cut_mid_batch(cluster: Cluster) -> tuple[float, int]:
    victim = cluster.hosts[0]
    while not (len(cluster.outcomes(victim)) >= 3 and cluster.held(victim)):
        time.sleep(0.02)
    at = time.monotonic()
    victim.cut()
    return at, len(cluster.held(victim))


def report(cluster: Cluster, seconds: float, total: int) -> None:
    print(f"{'host':<18} {'done':>6} {'images/s':>9}")
    done = Counter(
        host.name
        for host in cluster.hosts
        for _, status in cluster.outcomes(host)
        if status == "done"
    )
    for host in cluster.hosts:
        print(f"{host.name:<18} {done[host.name]:>6} {done[host.name] / seconds:>9.1f}")
    print(f"{'all':<18} {total:>6} {total / seconds:>9.1f}   ({seconds:.1f} s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2)
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--cut", action="store_true", help="cut the first host mid-batch")
    parser.add_argument("--visibility-timeout", type=int, default=10)
    parser.add_argument("--sweep-interval", type=int, default=20)
    args = parser.parse_args(argv)
    ok, reason = netns.available()
    if not ok:
        print(f"cluster benchmark skipped: {reason}", file=sys.stderr)
        return 2
    hard = args.visibility_timeout - 5  # the visibility timeout must exceed it by 5 s
    settings = {
        "PALETTE_SOFT_TIME_LIMIT": str(max(hard - 1, 1)),
        "PALETTE_TIME_LIMIT": str(max(hard, 2)),
        "PALETTE_VISIBILITY_TIMEOUT": str(args.visibility_timeout),
        "PALETTE_SWEEP_INTERVAL": str(args.sweep_interval),
    }
    with simulated_cluster(args.hosts, concurrency=args.concurrency, settings=settings) as cluster:
        print(f"services on {cluster.network.address}; hosts: {[h.name for h in cluster.hosts]}")
        storage = make_storage(cluster.stack.settings)
        batch = images(args.images)
        started = time.monotonic()
        etags = upload_all(storage, cluster.stack.settings.input_bucket, batch)
        cut = None
        if args.cut:
            with ThreadPoolExecutor(1) as pool:
                pending_cut = pool.submit(cut_mid_batch, cluster)
                ended = wait_all(storage, cluster.stack.settings.output_bucket, etags, 600)
                cut = pending_cut.result()
        else:
            ended = wait_all(storage, cluster.stack.settings.output_bucket, etags, 600)
        storage.close()  # type: ignore[attr-defined]
        report(cluster, ended - started, len(etags))
        if cut is not None:
            at, held = cut
            print(
                f"cut {cluster.hosts[0].name} holding {held} job(s); last result "
                f"{ended - at:.1f} s later (visibility timeout {args.visibility_timeout} s)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
