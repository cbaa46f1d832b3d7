"""Issue 12's long-poll benchmark: N concurrent ``GET /palettes/{key}?wait=30`` on the real stack.

Run:  .venv/bin/python benchmarks/bench_longpoll.py [--waiters 500] [--wait 30]
          [--idle 5] [--workers 1]

A private native stack (SeaweedFS, Redis, api_stub, Celery worker) on free ports, torn
down and purged at the end. After a warm-up the worker is paused (SIGSTOP to its process
group, pool children included) while N corpus photos are uploaded (their events are
queued) and N long-polls, one per image, are opened; once they are all waiting they are
held for ``--idle`` seconds, then the worker is resumed (SIGCONT) and stores the results
one after another at its own pace, each announcement waking its long-poll. A long-poll
that runs out its N seconds (202) is asked again, as a client would, and counted.

Latency = the client's clock when the 200 arrived − the result's own ``created_at`` (same
machine, same clock; the target is within 1 s). Each long-poll has a connection (an
``httpx.AsyncClient``) of its own, as separate clients would: one client pooling 500
connections spent seconds of its own CPU in the pool (see ``one_connection``) and was
most of the latency this benchmark used to report. ``--idle 15`` makes about half the
long-polls run out their 30 s while results arrive, so their re-asks land in one burst.
The api_stub's CPU (utime+stime from /proc) is given in three windows: opening the
long-polls, holding them idle (nothing polls the store, so this should be ~0), and while
the results arrive; its memory as VmRSS before, with all N waiting, and at its peak
(VmHWM). The client is this process (one asyncio loop, one client per long-poll);
``--dump FILE`` writes every request's sent and answered times.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.bench_pipeline import (  # noqa: E402
    DEFAULT_CORPUS,
    load_photos,
    pct,
    self_cpu_s,
    tree_cpu_s,
)

SETTLE_WINDOW_S = 0.5
SETTLED_CORES = 0.03
"""The api_stub has taken in every long-poll once it uses under 3 % of a core."""
OPEN_TIMEOUT_S = 60.0


@dataclass
class Poll:
    """One long-poll client: its key and what it saw."""

    key: str
    answered: float | None = None
    created: float | None = None
    status: int = 0
    asked: int = 0
    early: bool = False
    exchanges: list[tuple[float, float, int]] = field(default_factory=list)
    """(sent, answered, status) of every request: where a slow answer spent its time."""


@dataclass
class Window:
    """api_stub CPU seconds and wall seconds over one phase."""

    cpu: float = 0.0
    wall: float = 0.0
    client: float = 0.0

    @property
    def cores(self) -> float:
        return self.cpu / self.wall if self.wall else float("nan")


@dataclass
class Report:
    polls: list[Poll]
    windows: dict[str, Window] = field(default_factory=dict)
    rss_mib: dict[str, float] = field(default_factory=dict)
    stored_span: float = 0.0
    resumed: float = 0.0


def proc_status_kib(pid: int, name: str) -> int:
    """A ``VmRSS``/``VmHWM``-style line of /proc/<pid>/status, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise KeyError(name)


@contextmanager
def paused(pid: int) -> Iterator[None]:
    """SIGSTOP a component's process group for the block; SIGCONT however it ends."""
    group = os.getpgid(pid)
    if group == os.getpgrp():
        raise RuntimeError("the worker shares our process group: refusing to stop it")
    os.killpg(group, signal.SIGSTOP)
    try:
        yield
    finally:
        os.killpg(group, signal.SIGCONT)


def upload_all(stack: Any, s3: Any, photos: list[bytes], keys: list[str]) -> None:
    bucket = stack.settings.input_bucket

    def put(index: int) -> None:
        data = photos[index % len(photos)]
        s3.put_object(Bucket=bucket, Key=keys[index], Body=data, ContentType="image/jpeg")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(len(keys))))


def created_at(doc: dict[str, Any]) -> float:
    return datetime.fromisoformat(doc["created_at"].replace("Z", "+00:00")).timestamp()


async def long_poll(http: Any, base: str, poll: Poll, wait: float, resumed: asyncio.Event) -> None:
    """Ask until the result comes (a 202 after ``wait`` s: ask again)."""
    url = f"{base}/palettes/{quote(poll.key)}"
    while True:
        poll.asked += 1
        sent = time.time()
        response = await http.get(url, params={"wait": f"{wait:g}"})
        poll.exchanges.append((sent, time.time(), response.status_code))
        if response.status_code != 202:
            poll.answered = time.time()
            poll.status = response.status_code
            poll.early = not resumed.is_set()
            if response.status_code == 200:
                poll.created = created_at(response.json())
            return


def settle(pid: int, timeout: float) -> None:
    """Wait until the api_stub's CPU use drops under ``SETTLED_CORES`` (all taken in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = tree_cpu_s(pid)
        time.sleep(SETTLE_WINDOW_S)
        if (tree_cpu_s(pid) - before) / SETTLE_WINDOW_S < SETTLED_CORES:
            return
    raise RuntimeError(f"the api_stub was still busy after {timeout:.0f} s")


class Meter:
    """api_stub and client CPU between ``start`` and ``stop``."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def start(self) -> None:
        self.cpu, self.client, self.wall = tree_cpu_s(self.pid), self_cpu_s(), time.monotonic()

    def stop(self) -> Window:
        return Window(
            tree_cpu_s(self.pid) - self.cpu,
            time.monotonic() - self.wall,
            self_cpu_s() - self.client,
        )


def one_connection(wait: float) -> Any:
    """A client of one connection, as each waiting browser or backend is.

    Not one client with a pool of N: httpcore's pool does work proportional to its
    connections on every request and response (it probes each idle one), so 500 long-polls
    through one pool cost the client ~9 ms of CPU per answer, and answers that arrive
    together wait seconds for it; that was the client's latency, not the api_stub's."""
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(wait + 30, connect=30)
    return httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False, verify=False)


async def open_clients(
    stack: contextlib.AsyncExitStack[Any], n: int, args: argparse.Namespace
) -> list[Any]:
    """One client per long-poll; with ``--one-client``, the same pooled client N times
    (how this benchmark measured before, to compare)."""
    if not args.one_client:
        return [await stack.enter_async_context(one_connection(args.wait)) for _ in range(n)]
    import httpx

    limits = httpx.Limits(max_connections=n + 8, max_keepalive_connections=n + 8)
    timeout = httpx.Timeout(args.wait + 30, connect=30)
    pooled = httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)
    return [await stack.enter_async_context(pooled)] * n


async def run(stack: Any, s3: Any, args: argparse.Namespace, keys: list[str]) -> Report:
    """Open the long-polls with the worker paused, hold them, resume it, collect."""
    api_pid, worker_pid = stack.proc("api_stub").pid, stack.proc("worker").pid
    report = Report([Poll(key) for key in keys])
    report.rss_mib["before"] = proc_status_kib(api_pid, "VmRSS") / 1024
    resumed = asyncio.Event()
    meter = Meter(api_pid)
    async with contextlib.AsyncExitStack() as clients:
        https = await open_clients(clients, len(keys), args)
        with paused(worker_pid):
            await asyncio.to_thread(upload_all, stack, s3, args.photos, keys)
            meter.start()
            tasks = [
                asyncio.create_task(
                    long_poll(http, stack.settings.api_url, poll, args.wait, resumed)
                )
                for http, poll in zip(https, report.polls, strict=True)
            ]
            await asyncio.sleep(SETTLE_WINDOW_S)
            await asyncio.to_thread(settle, api_pid, OPEN_TIMEOUT_S)
            report.windows["open"] = meter.stop()
            report.rss_mib["waiting"] = proc_status_kib(api_pid, "VmRSS") / 1024
            meter.start()
            await asyncio.sleep(args.idle)
            report.windows["idle"] = meter.stop()
            meter.start()
            resumed.set()
        started = time.time()
        await asyncio.gather(*tasks)
        report.windows["results"] = meter.stop()
    report.stored_span = max(p.created or started for p in report.polls) - started
    report.resumed = started
    report.rss_mib["peak"] = proc_status_kib(api_pid, "VmHWM") / 1024
    return report


def print_report(report: Report, args: argparse.Namespace) -> None:
    polls = report.polls
    ok = [p for p in polls if p.status == 200 and p.created is not None and p.answered]
    latency = [p.answered - p.created for p in ok if p.answered and p.created]
    within = sum(1 for value in latency if value <= 1.0)
    n = len(polls)
    print(
        f"\n{n} long-polls (?wait={args.wait:g}), "
        f"{'one pooled client' if args.one_client else 'a client each'}, "
        f"{args.workers} worker process(es): "
        f"{len(ok)} answered 200 with the result; the worker stored them in "
        f"{report.stored_span:.1f} s after it was resumed ({len(ok) / report.stored_span:.0f}/s)"
    )
    print(
        f"latency, result created_at -> answer at the client: p50 {1000 * pct(latency, 50):.0f} ms,"
        f" p95 {1000 * pct(latency, 95):.0f} ms, p99 {1000 * pct(latency, 99):.0f} ms,"
        f" max {1000 * max(latency):.0f} ms;"
        f" within 1 s: {within}/{n}"
    )
    asked_again = sum(1 for p in polls if p.asked > 1)
    early = sum(1 for p in polls if p.early)
    others = sorted({p.status for p in polls if p.status != 200})
    print(
        f"asked again after a 202: {asked_again}; answered before the worker resumed: "
        f"{early}; other statuses: {others or 'none'}"
    )
    print("\napi_stub CPU            wall s   CPU s   % of a core   (client CPU s)")
    labels = {
        "open": f"opening {n} long-polls",
        "idle": f"holding {n}, idle",
        "results": "while results arrive",
    }
    for name, label in labels.items():
        w = report.windows[name]
        print(f"{label:<22} {w.wall:7.2f} {w.cpu:7.2f} {100 * w.cores:11.1f}%   ({w.client:.2f})")
    rss = report.rss_mib
    grown = rss["waiting"] - rss["before"]
    print(
        f"\napi_stub RSS: {rss['before']:.1f} MiB before, {rss['waiting']:.1f} MiB with {n} "
        f"waiting (+{grown:.1f} MiB, {1024 * grown / n:.0f} KiB each), peak {rss['peak']:.1f} MiB"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiters", type=int, default=500, help="concurrent long-polls")
    parser.add_argument("--wait", type=float, default=30.0, help="?wait=N of each long-poll")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds held before resuming")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument(
        "--one-client", action="store_true", help="all long-polls through one pooled client"
    )
    parser.add_argument("--dump", type=Path, help="write every long-poll's times here (JSON)")
    args = parser.parse_args(argv)
    args.photos = load_photos(args.corpus)

    from infra.private_stack import private_stack
    from tests.integration.helpers import wait_for_result
    from worker.storage import s3_client

    with private_stack(
        workers=args.workers,
        prefix="palette-longpoll-",
        settings={"PALETTE_SWEEP_INTERVAL": "0"},
    ) as stack:
        s3 = s3_client(stack.settings, pool=16)
        try:
            for i, photo in enumerate(args.photos):  # warm: pool children, connections
                key = f"warm/{i}.jpg"
                s3.put_object(Bucket=stack.settings.input_bucket, Key=key, Body=photo)
                wait_for_result(s3, key, timeout=120)
            run_id = uuid.uuid4().hex[:6]
            keys = [f"longpoll/{run_id}/{i:04d} ü.jpg" for i in range(args.waiters)]
            report = asyncio.run(run(stack, s3, args, keys))
        finally:
            s3.close()
    print_report(report, args)
    if args.dump:
        rows = [vars(poll) for poll in report.polls]
        args.dump.write_text(json.dumps({"resumed": report.resumed, "polls": rows}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
