"""Issue 3's whole-pipeline benchmark: upload → webhook → api_stub → Redis → worker → JSON.

Run:  .venv/bin/python benchmarks/bench_pipeline.py [--workers 1,2] [--seconds 20]
          [--images N] [--rate R] [--paced-only] [--pool prefork,threads,solo]
          [--variant NAME:--worker-flag,VAR=VALUE ...] [--repeat R]
          [--compare-push-callbacks]  (variants "off": PALETTE_PUSH=0, no callbacks; "on":
          push and signed callbacks to a receiver in this process, callback worker running)

Starts its own stack (SeaweedFS, a private Redis, api_stub, Celery worker) in a temporary
directory on free ports, and tears it down (data purged) at the end. For each worker
configuration (concurrency × pool × variant; ``--repeat`` rounds, round-robin, so the
configurations compared run back-to-back; e.g. ``--variant before:PYTHONPATH=../old
--variant after:`` runs the worker of another checkout against this one's), on a worker
restarted with it and warmed up:

* **max run** (closed loop): the client uploads the corpus JPEG photos for ``--seconds``
  (or exactly ``--images``), keeping ~``--backlog`` tasks waiting in Redis so the worker
  never starves and the queue never balloons; images/s = results / (last result − first
  upload), and "steady" counts only the results while uploads were still going on.
* **paced run** (open loop): uploads at a fixed rate (``--rate``, default half of that
  concurrency's max) and reports the upload→JSON latency: p50/p95/p99 from the result's
  own ``created_at`` minus the client's clock just before the PUT (same machine, same
  clock; it excludes the JSON PUT itself), confirmed by polling a sample of the results
  with HEAD (``--poll-every``; every 10 ms, backing off on old ones; the HEADs are
  counted: SeaweedFS pays ~0.5 ms of CPU for each).

CPU per component is utime+stime (psutil) for each process tree (the Celery
pool children included), read before and after each run; the client is this process
(rusage), kept light by uploading with presigned URLs over keep-alive connections. Next
to it, the in-process throughput of ``worker.palette.extract`` on the same images, in
one and in two processes, measured in the same run: the ratio is the pipeline's overhead.
The machine is shared: "others" is the CPU the rest of the machine used during each run,
and "2c img/s" (2000 ÷ pipeline CPU ms per image) the ceiling on an idle 2-core machine.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the worker does: one thread per process

import argparse  # noqa: E402
import http.client  # noqa: E402
import multiprocessing  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from concurrent.futures import Future, ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager, suppress  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT / "benchmarks" / "corpus"
PHOTOS = ("astronaut", "chelsea", "china", "coffee", "flower", "grace_hopper", "rocket")
COMPONENTS = ("worker", "seaweedfs", "redis", "api_stub", "callbacks")
"""``callbacks`` (the callback worker) runs only with ``--compare-push-callbacks``."""
CALLBACK_SECRET = "bench-callback-secret-0123456789"
COMPARE_VARIANTS = ("off:PALETTE_PUSH=0,PALETTE_CALLBACK_URL=", "on:PALETTE_PUSH=1")
"""Push (the Redis announcement) and signed callbacks both off, then both on."""
UPLOAD_THREADS = 4
POLL_INTERVAL_S = 0.010
POLL_BACKOFF = 0.2
DONE_TIMEOUT_S = 120.0


# ---------------------------------------------------------------- CPU accounting


def tree_cpu_s(root: int) -> float:
    """CPU seconds of ``root`` and its live descendants, plus what it reaped (c-times)."""
    import psutil

    try:
        top = psutil.Process(root)
        times = top.cpu_times()
        total = times.user + times.system + times.children_user + times.children_system
        descendants = top.children(recursive=True)
    except psutil.Error:
        return 0.0
    for process in descendants:
        with suppress(psutil.Error):  # it ended meanwhile
            times = process.cpu_times()
            total += times.user + times.system
    return total


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all processes, everyone's tests too)."""
    import psutil

    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def self_cpu_s() -> float:
    """This process (all its threads): the benchmark client."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds per component between ``start`` and ``stop``, with the wall time."""

    pids: dict[str, int]
    before: dict[str, float] = field(default_factory=dict)
    spent: dict[str, float] = field(default_factory=dict)
    wall: float = 0.0

    def _read(self) -> dict[str, float]:
        readings = {name: tree_cpu_s(pid) for name, pid in self.pids.items()}
        readings["client"] = self_cpu_s()
        readings["machine"] = machine_busy_s()
        return readings

    def start(self) -> None:
        self.before, self.wall = self._read(), time.monotonic()

    def stop(self) -> None:
        after = self._read()
        self.wall = time.monotonic() - self.wall
        self.spent = {name: after[name] - self.before[name] for name in after}
        machine = self.spent.pop("machine")
        self.spent["others"] = max(0.0, machine - sum(self.spent.values()))


# ---------------------------------------------------------------- in-process core


def _extract_loop(images: list[bytes], seconds: float) -> int:
    """Call ``extract`` round-robin for ``seconds``; how many calls finished."""
    from worker.palette import extract

    extract(images[0])  # warm-up: imports, caches
    done, deadline = 0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        extract(images[done % len(images)])
        done += 1
    return done


def inprocess_rate(images: list[bytes], processes: int, seconds: float) -> float:
    """Images/s of ``worker.palette.extract`` alone (decode included), in N processes."""
    if processes == 1:
        return _extract_loop(images, seconds) / seconds
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(processes) as pool:
        counts = pool.starmap(_extract_loop, [(images, seconds)] * processes)
    return sum(counts) / seconds


# ---------------------------------------------------------------- the stack


@dataclass(frozen=True)
class Config:
    """One worker set-up to measure: concurrency, Celery pool, and a named variant.

    A variant adds ``python -m worker`` flags (``--celery-task-log``) and/or environment
    variables (``OMP_NUM_THREADS=2``) to the worker only.
    """

    workers: int
    pool: str
    variant: str = "base"
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()

    @property
    def label(self) -> str:
        return f"{self.variant}/{self.pool}"


def parse_variant(raw: str) -> tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """``NAME:--flag=x,VAR=VALUE,...`` → (name, worker flags, environment)."""
    name, _, spec = raw.partition(":")
    items = [item for item in spec.split(",") if item]
    flags = tuple(item for item in items if item.startswith("-"))
    env = tuple(tuple(item.split("=", 1)) for item in items if not item.startswith("-"))
    return name or "base", flags, env  # type: ignore[return-value]


@dataclass
class Bench:
    """A running private stack and the client's handles on it."""

    stack_dir: Path
    environ: dict[str, str]
    settings: Any
    s3: Any
    redis: Any
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    worker_config: Config | None = None

    def pids(self) -> dict[str, int]:
        from infra.stack import proc_of

        found = {name: proc_of(self.stack_dir, name) for name in COMPONENTS}
        return {name: proc.pid for name, proc in found.items() if proc is not None}

    def restart_worker(self, config: Config, up_timeout: float = 180.0) -> None:
        """Replace the stack's worker by one with this configuration, and wait for it.

        Started like the stack starts it (same environment, log and pid bookkeeping in
        the stack's state, so ``status`` and ``down`` manage it), plus the variant.
        """
        from infra.components import logged_ready, process_env
        from infra.processes import is_alive, rotate_log, spawn, stop_all, wait_until, write_pidfile
        from infra.state import load, locked

        if self.worker_config == config:
            return
        with locked(self.stack_dir):
            state = load(self.stack_dir)
            assert state is not None
            old = state.procs.pop("worker", None)
            if old is not None:
                stop_all([old], timeout=15)
            log = state.log_path("worker")
            rotate_log(log)
            command = [sys.executable, "-m", "worker", "--concurrency", str(config.workers)]
            command += ["--pool", config.pool, *config.args]
            env = {**process_env(state, self.environ), **dict(config.env)}
            proc = spawn(command, cwd=state.stack_dir, log_path=log, env=env)
            state.procs["worker"] = proc
            write_pidfile(state.pid_path("worker"), proc.pid)
            state.save()
        wait_until(lambda: logged_ready(log) or not is_alive(proc), timeout=up_timeout)
        if not logged_ready(log):
            raise RuntimeError(f"worker {config.label} did not start; see {log}")
        self.worker_config = config

    def queue_length(self) -> int:
        from worker.jobs import QUEUE_NAME

        return int(self.redis.llen(QUEUE_NAME))


@contextmanager
def running_stack(workers: int, extra: dict[str, str] | None = None) -> Iterator[Bench]:
    """A private stack for the benchmark's lifetime; always torn down and its data purged."""
    import redis

    from infra.private_stack import private_stack
    from worker.storage import s3_client

    with private_stack(
        workers=workers,
        prefix="palette-bench-",
        settings={"PALETTE_SWEEP_INTERVAL": "0", **(extra or {})},
    ) as stack:
        settings = stack.settings
        s3 = s3_client(settings, pool=16)
        client = redis.Redis.from_url(settings.broker_url)
        try:
            yield Bench(stack.stack_dir, stack.environ, settings, s3, client)
        finally:
            client.close()
            s3.close()


class Receiver:
    """The web app behind ``PALETTE_CALLBACK_URL``: answers 204 to every POST, counts them."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        receiver = self
        self.count = 0

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.count += 1
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def settings(self) -> dict[str, str]:
        port = self.server.server_address[1]
        return {
            "PALETTE_CALLBACK_URL": f"http://127.0.0.1:{port}/hook",
            "PALETTE_CALLBACK_SECRET": CALLBACK_SECRET,
        }

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------- the client


@dataclass
class Upload:
    """One image sent: its key, the URLs signed in advance, and what we saw."""

    index: int
    key: str
    data: bytes
    put_url: str = ""
    head_url: str = ""
    sent: float = 0.0
    """time.time() just before the PUT (wall clock: compared with ``created_at``)."""
    polled: float | None = None
    created: float | None = None
    status: str = ""
    timings: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)
    """The worker thread's CPU ms per stage (the result's ``cpu_ms``), plus "json": what
    encoding this result costs (measured here: the JSON cannot hold its own encoding)."""


class Connections:
    """One keep-alive HTTP connection per thread: no TLS, no per-request connect."""

    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.local = threading.local()

    def request(self, method: str, url: str, body: bytes | None = None) -> int:
        for attempt in (1, 2):  # a server-closed keep-alive connection: reconnect once
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = self.local.conn = http.client.HTTPConnection(self.host, self.port)
            try:
                conn.request(method, url, body=body, headers=_headers(body))
                response = conn.getresponse()
                response.read()
                return response.status
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _headers(body: bytes | None) -> dict[str, str]:
    return {} if body is None else {"Content-Type": "image/jpeg"}


def _path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def plan_uploads(bench: Bench, photos: list[bytes], count: int, label: str) -> list[Upload]:
    """Keys and presigned PUT/HEAD URLs for ``count`` uploads, made before the clock runs."""
    bucket, out = bench.settings.input_bucket, bench.settings.output_bucket
    uploads = []
    for i in range(count):
        key = f"bench/{bench.run_id}/{label}/{i:06d}.jpg"
        up = Upload(i, key, photos[i % len(photos)])
        put = bench.s3.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600
        )
        head = bench.s3.generate_presigned_url(
            "head_object", Params={"Bucket": out, "Key": key + ".json"}, ExpiresIn=3600
        )
        up.put_url, up.head_url = _path_of(put), _path_of(head)
        uploads.append(up)
    return uploads


def send(conns: Connections, up: Upload) -> None:
    up.sent = time.time()
    status = conns.request("PUT", up.put_url, up.data)
    if status != 200:
        raise RuntimeError(f"PUT {up.key}: HTTP {status}")


class Poller:
    """Confirms "the JSON is visible" for a sample by HEAD; counts its HEADs.

    Each image is polled every 10 ms, backing off to a fifth of its age so far: the
    poller stays light (it shares the CPU and SeaweedFS it measures) even when the
    pipeline saturates and latencies grow to seconds; the error is at most that fifth.
    """

    def __init__(self, conns: Connections) -> None:
        self.conns, self.heads = conns, 0
        self.pending: dict[int, tuple[Upload, float]] = {}  # index → (upload, next HEAD at)
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def watch(self, up: Upload) -> None:
        with self.lock:
            self.pending[up.index] = (up, time.time())

    def _run(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                due = [(up, at) for up, at in self.pending.values() if at <= time.time()]
            for up, _ in due:
                self.heads += 1
                found = self.conns.request("HEAD", up.head_url) == 200
                now = time.time()
                with self.lock:
                    if found:
                        up.polled = now
                        del self.pending[up.index]
                    else:
                        wait = max(POLL_INTERVAL_S, POLL_BACKOFF * (now - up.sent))
                        self.pending[up.index] = (up, now + wait)
            time.sleep(POLL_INTERVAL_S / 2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join()


def run_closed(
    bench: Bench, uploads: Iterator[Upload], seconds: float | None, backlog: int, conns: Connections
) -> list[Upload]:
    """Upload while keeping ~``backlog`` tasks queued; stop after ``seconds`` or the plan."""
    sent: list[Upload] = []
    deadline = None if seconds is None else time.monotonic() + seconds
    futures: list[Future[None]] = []
    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        for up in uploads:
            if deadline is not None and time.monotonic() >= deadline:
                break
            while bench.queue_length() >= backlog or _busy(futures) >= 2 * UPLOAD_THREADS:
                time.sleep(0.01)
            futures.append(pool.submit(send, conns, up))
            sent.append(up)
    for future in futures:
        future.result()  # an upload that failed fails the run
    return sent


def _busy(futures: list[Future[None]]) -> int:
    """Uploads submitted and not finished (only the last few can be)."""
    return sum(1 for f in futures[-4 * UPLOAD_THREADS :] if not f.done())


def run_paced(
    uploads: list[Upload], rate: float, conns: Connections, poller: Poller, poll_every: int
) -> list[Upload]:
    """Open loop: upload i is due at start + i/rate, whatever the pipeline does."""
    start = time.monotonic()

    def job(up: Upload) -> None:
        send(conns, up)
        if up.index % poll_every == 0:
            poller.watch(up)

    with ThreadPoolExecutor(UPLOAD_THREADS) as pool:
        futures = []
        for up in uploads:
            delay = start + up.index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(job, up))
    for future in futures:
        future.result()
    return uploads


def wait_done(bench: Bench, sent: list[Upload], conns: Connections) -> None:
    """Cheaply wait for the last result (FIFO queue), then make sure all of them exist."""
    deadline = time.monotonic() + DONE_TIMEOUT_S
    missing = list(sent)
    while missing and time.monotonic() < deadline:
        if conns.request("HEAD", missing[-1].head_url) != 200:
            time.sleep(0.05)
            continue
        missing = [up for up in missing if conns.request("HEAD", up.head_url) != 200]
    if missing:
        raise RuntimeError(f"{len(missing)} results missing after {DONE_TIMEOUT_S:.0f} s")


def collect(bench: Bench, sent: list[Upload]) -> None:
    """Read every result JSON (after the CPU window): status and ``created_at``."""
    import json

    def fetch(up: Upload) -> None:
        body = bench.s3.get_object(Bucket=bench.settings.output_bucket, Key=up.key + ".json")
        doc = json.loads(body["Body"].read())
        up.status = doc.get("status", "?")
        up.timings = doc.get("timings_ms", {})
        up.cpu = {**doc.get("cpu_ms", {}), "json": encode_cpu_ms(doc)}
        stamp = datetime.strptime(doc["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
        up.created = stamp.replace(tzinfo=UTC).timestamp()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(fetch, sent))


def encode_cpu_ms(doc: dict[str, Any]) -> float:
    """Thread CPU ms of the worker's own JSON encoding of ``doc`` (median of 5)."""
    from worker import document

    times = []
    for _ in range(5):
        started = time.thread_time()
        document.encode(doc)
        times.append((time.thread_time() - started) * 1000)
    return statistics.median(times)


# ---------------------------------------------------------------- reporting


@dataclass
class RunResult:
    label: str
    workers: int
    pool: str
    """The configuration label: variant/pool."""
    uploads: list[Upload]
    cpu: CpuMeter
    heads: int = 0
    rate: float | None = None

    @property
    def count(self) -> int:
        return len(self.uploads)

    @property
    def span(self) -> float:
        first = min(up.sent for up in self.uploads)
        return max(up.created or 0.0 for up in self.uploads) - first

    @property
    def throughput(self) -> float:
        return self.count / self.span

    @property
    def steady(self) -> float:
        """Results per second while uploads were still going on (warm-up: first 2 s out)."""
        first = min(up.sent for up in self.uploads) + 2.0
        last = max(up.sent for up in self.uploads)
        done = sum(1 for up in self.uploads if up.created and first <= up.created <= last)
        return done / (last - first) if last > first else float("nan")

    def latencies(self) -> list[float]:
        return [(up.created or 0.0) - up.sent for up in self.uploads]

    def polled(self) -> list[float]:
        return [up.polled - up.sent for up in self.uploads if up.polled is not None]

    def confirm_gap(self) -> list[float]:
        return [up.polled - up.created for up in self.uploads if up.polled and up.created]

    def failures(self) -> int:
        return sum(1 for up in self.uploads if up.status != "done")


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(values: list[float], q: float) -> str:
    return f"{pct(values, q) * 1000:7.0f}"


def print_inprocess(rates: dict[int, float]) -> None:
    print("\nIn-process worker.palette.extract on the same photos (decode included)")
    print(f"{'processes':>9} {'images/s':>9} {'ms/image':>9}")
    for procs, rate in rates.items():
        print(f"{procs:>9} {rate:9.1f} {1000 * procs / rate:9.1f}")


def print_runs(results: list[RunResult], inproc: dict[int, float]) -> None:
    print("\nThroughput and latency (latency = result created_at − client time before PUT)")
    head = f"{'run':<6} {'wk':>2} {'config':<14} {'images':>6} {'s':>5} {'img/s':>6} "
    head += f"{'steady':>6} {'x core':>6} {'p50ms':>7} {'p95ms':>7} {'p99ms':>7} {'fail':>4}"
    print(head)
    for r in results:
        lat = r.latencies()
        core = inproc.get(min(r.workers, max(inproc)), float("nan"))
        ratio = f"{r.throughput / core:6.2f}" if r.rate is None else f"{'-':>6}"
        print(
            f"{r.label:<6} {r.workers:>2} {r.pool:<14} {r.count:>6} {r.span:5.1f} "
            f"{r.throughput:6.1f} {r.steady:6.1f} {ratio} "
            f"{ms(lat, 50)} {ms(lat, 95)} {ms(lat, 99)} {r.failures():>4}"
        )
    print("  x core = img/s ÷ in-process extract img/s with as many processes as workers;")
    print("  max-run latency is mostly queueing behind --backlog; the paced runs show latency")


def print_confirmation(results: list[RunResult]) -> None:
    print("\nConfirmed by polling (HEAD of the JSON every 10 ms or 1/5 of its age so far, a")
    print("sample of the paced runs; poll−created includes the JSON PUT itself)")
    print(
        f"{'run':<6} {'wk':>2} {'rate':>5} {'n':>4} {'p50ms':>7} {'p95ms':>7} "
        f"{'poll−created p50ms':>18} {'HEADs/image':>11}"
    )
    for r in results:
        if r.rate is None:
            continue
        polled, gap = r.polled(), r.confirm_gap()
        print(
            f"{r.label:<6} {r.workers:>2} {r.rate:5.1f} {len(polled):>4} {ms(polled, 50)} "
            f"{ms(polled, 95)} {ms(gap, 50):>18} {r.heads / r.count:11.2f}"
        )


def print_stages(results: list[RunResult]) -> None:
    print("\nWorker stage medians (ms, the result's timings_ms)")
    stages = ("download", "check", "decode", "cluster", "render", "head", "upload")
    print(f"{'run':<6} {'wk':>2} {'config':<14} " + " ".join(f"{s:>8}" for s in stages))
    for r in results:
        cells = []
        for stage in stages:
            values = [up.timings[stage] for up in r.uploads if stage in up.timings]
            cells.append(f"{statistics.median(values):8.1f}" if values else f"{'-':>8}")
        print(f"{r.label:<6} {r.workers:>2} {r.pool:<14} " + " ".join(cells))


CPU_STAGES = {
    "GET img": "download",
    "GET json": "check",
    "decode": "decode",
    "cluster": "cluster",
    "render": "render",
    "HEAD": "head",
    "PUT bar": "upload",
    "JSON": "json",
}
"""The worker's stages, as printed → their key in the result's ``cpu_ms``."""


def print_worker_cpu(results: list[RunResult]) -> None:
    """The worker's CPU per image by stage: the means of the results' ``cpu_ms`` (the
    task's own thread), and "outside" = the worker's process-tree CPU per image (psutil)
    minus those: Celery (messages, acks, pool), the task's Redis ledger, metrics, logs,
    and the JSON's own PUT."""
    print("\nWorker CPU per image by stage (ms, mean; thread CPU recorded by the worker)")
    names = [*CPU_STAGES, "outside", "worker"]
    print(f"{'run':<6} {'wk':>2} {'config':<14} " + " ".join(f"{n:>8}" for n in names))
    for r in results:
        means = {}
        for name, key in CPU_STAGES.items():
            values = [up.cpu[key] for up in r.uploads if key in up.cpu]
            means[name] = statistics.fmean(values) if values else 0.0
        worker = 1000 * r.cpu.spent.get("worker", 0.0) / r.count
        means["outside"], means["worker"] = worker - sum(means.values()), worker
        print(f"{r.label:<6} {r.workers:>2} {r.pool:<14} "
              + " ".join(f"{means[n]:8.2f}" for n in names))  # fmt: skip
    print("  outside = worker process-tree CPU (psutil) − the stages: Celery, ledger, metrics,")
    print("  logging, the JSON's PUT; JSON = encoding the stored result, timed in this process")


def print_cpu(results: list[RunResult]) -> None:
    print("\nCPU per image (ms) and CPU use (% of one core) per component, utime+stime")
    names = [*COMPONENTS, "client"]
    print(
        f"{'run':<6} {'wk':>2} {'config':<14} "
        + " ".join(f"{n:>9}" for n in names)
        + f" {'pipeline':>8} {'cores':>6} {'others':>6} {'2c img/s':>8}"
    )
    for r in results:
        per = {n: 1000 * r.cpu.spent.get(n, 0.0) / r.count for n in names}
        pipeline = sum(per[n] for n in COMPONENTS)
        busy = sum(r.cpu.spent.get(n, 0.0) for n in names) / r.cpu.wall
        others = r.cpu.spent.get("others", 0.0) / r.cpu.wall
        print(
            f"{r.label:<6} {r.workers:>2} {r.pool:<14} "
            + " ".join(f"{per[n]:9.1f}" for n in names)
            + f" {pipeline:8.1f} {busy:6.2f} {others:6.2f} {2000 / pipeline:8.0f}"
        )
        util = " ".join(f"{100 * r.cpu.spent.get(n, 0.0) / r.cpu.wall:8.0f}%" for n in names)
        print(f"{'':<6} {'':>2} {'% core':<14} {util}")
    print("  pipeline = worker + seaweedfs + redis + api_stub (the client is this script);")
    print("  cores = CPU seconds of the pipeline and the client ÷ wall seconds (max 2);")
    print("  others = what the rest of the machine (other users' tests) used meanwhile, in cores;")
    print("  2c img/s = 2000 ÷ pipeline ms: the ceiling on an otherwise idle 2-core machine")


# ---------------------------------------------------------------- main


def measure(
    bench: Bench,
    label: str,
    workers: int,
    pool: str,
    run: Callable[..., Any],
    uploads: list[Upload],
    **kwargs: Any,
) -> RunResult:
    """One run: CPU window around upload-and-wait, then read the results outside it."""
    conns = Connections(bench.settings.s3_endpoint)
    poller = Poller(conns) if label == "paced" else None
    meter = CpuMeter(bench.pids())
    meter.start()
    if poller is not None:
        sent = run(uploads, conns=conns, poller=poller, **kwargs)
    else:
        sent = run(bench, iter(uploads), conns=conns, **kwargs)
    wait_done(bench, sent, conns)
    meter.stop()
    heads = 0
    if poller is not None:
        time.sleep(0.1)
        poller.close()
        heads = poller.heads
    collect(bench, sent)
    return RunResult(label, workers, pool, sent, meter, heads, kwargs.get("rate"))


def warm_up(bench: Bench, photos: list[bytes], workers: int) -> None:
    """Imports, connections and pool children warm before anything is timed."""
    uploads = plan_uploads(bench, photos, 4 * len(photos), f"warm{workers}")
    conns = Connections(bench.settings.s3_endpoint)
    sent = run_closed(bench, iter(uploads), None, 8, conns)
    wait_done(bench, sent, conns)


def bench_config(
    bench: Bench, photos: list[bytes], config: Config, args: argparse.Namespace
) -> list[RunResult]:
    """Max run, then paced run at half its rate (or ``--rate``), for one configuration."""
    bench.restart_worker(config)
    workers, label = config.workers, config.label
    warm_up(bench, photos, workers)
    tag = uuid.uuid4().hex[:6]
    if args.paced_only:
        return [paced_run(bench, photos, config, args.rate, tag, args)]
    count = args.images or round(args.seconds * args.core_rate[min(workers, 2)] * 1.5) + 50
    plan = plan_uploads(bench, photos, count, f"max-{tag}")
    seconds = None if args.images else args.seconds
    peak = measure(
        bench, "max", workers, label, run_closed, plan, seconds=seconds, backlog=args.backlog
    )
    if args.no_paced:
        return [peak]
    return [peak, paced_run(bench, photos, config, args.rate or peak.throughput / 2, tag, args)]


def paced_run(
    bench: Bench,
    photos: list[bytes],
    config: Config,
    rate: float,
    tag: str,
    args: argparse.Namespace,
) -> RunResult:
    """Open loop at ``rate`` for ``--seconds``: the latency a client sees below saturation."""
    plan = plan_uploads(bench, photos, max(1, round(rate * args.seconds)), f"paced-{tag}")
    return measure(
        bench,
        "paced",
        config.workers,
        config.label,
        run_paced,
        plan,
        rate=rate,
        poll_every=args.poll_every,
    )


def idle_cpu(bench: Bench, seconds: float = 5.0) -> dict[str, float]:
    """Each component's CPU use with nothing to do (% of a core): the floor under a run."""
    meter = CpuMeter(bench.pids())
    meter.start()
    time.sleep(seconds)
    meter.stop()
    return {name: 100 * spent / meter.wall for name, spent in meter.spent.items()}


def load_photos(corpus: Path) -> list[bytes]:
    return [(corpus / f"{name}.jpg").read_bytes() for name in PHOTOS]


def arguments() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--workers", default="1,2", help="worker concurrencies, e.g. 1,2")
    parser.add_argument("--pool", default="prefork", help="Celery pool(s): prefork,threads,solo")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--images", type=int, default=0, help="exact count for the max run")
    parser.add_argument("--rate", type=float, default=0.0, help="paced rate (default: max/2)")
    parser.add_argument("--backlog", type=int, default=8, help="tasks kept waiting (max run)")
    parser.add_argument("--poll-every", type=int, default=10, help="confirm 1 in N by polling")
    parser.add_argument("--core-seconds", type=float, default=4.0, help="in-process timing")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="NAME:--worker-flag,VAR=VALUE,... a worker set-up to compare (repeatable)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all configurations")
    parser.add_argument("--no-paced", action="store_true", help="max runs only")
    parser.add_argument("--paced-only", action="store_true", help="paced runs at --rate only")
    parser.add_argument(
        "--compare-push-callbacks",
        action="store_true",
        help="variants off (PALETTE_PUSH=0, no callback URL) and on (push, callbacks to a "
        "receiver in this process), side by side",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = arguments()
    args = parser.parse_args(argv)

    photos = load_photos(args.corpus)
    sizes = [len(p) for p in photos]
    print(
        f"corpus: {len(photos)} JPEG photos, {statistics.mean(sizes) / 1024:.0f} KiB mean; "
        f"{os.cpu_count()} CPUs"
    )
    inproc = {n: inprocess_rate(photos, n, args.core_seconds) for n in (1, 2)}
    print_inprocess(inproc)
    args.core_rate = inproc  # sizes the plan of a timed max run (presigned up front)

    configs = [
        Config(int(n), pool, *parse_variant(raw))
        for raw in (COMPARE_VARIANTS if args.compare_push_callbacks else args.variant or ["base:"])
        for pool in args.pool.split(",")
        for n in args.workers.split(",")
    ]
    if args.paced_only and not args.rate:
        parser.error("--paced-only needs --rate")
    results: list[RunResult] = []
    receiver = Receiver() if args.compare_push_callbacks else None
    extra = receiver.settings() if receiver is not None else None
    with running_stack(configs[0].workers, extra) as bench:
        bench.restart_worker(configs[0])
        warm_up(bench, photos, configs[0].workers)
        idle = idle_cpu(bench)
        for _ in range(args.repeat):
            for config in configs:  # round-robin: each comparison runs back-to-back
                results += bench_config(bench, photos, config, args)
                print(
                    f"  done: {config.workers} worker(s), {config.label}",
                    file=sys.stderr,
                    flush=True,
                )
    if receiver is not None:
        receiver.close()
        print(f"\ncallbacks received (signed POSTs, 204): {receiver.count}", file=sys.stderr)
    print_runs(results, inproc)
    print_confirmation(results)
    print_stages(results)
    print_worker_cpu(results)
    print_cpu(results)
    print(
        "  idle (nothing to do, % of a core): "
        + ", ".join(f"{name} {idle.get(name, 0.0):.1f}%" for name in [*COMPONENTS, "others"])
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
