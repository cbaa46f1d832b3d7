"""Chaos run: upload images while the stack is being broken, then prove nothing was lost.

Run:  .venv/bin/python benchmarks/chaos.py [--images 300] [--scenario all|kill|redis|api]
                                           [--corpus DIR] [--rate 25] [--workers 2]

Starts its own stack (SeaweedFS, a private Redis on a free port that the stack manages
and can restart, api_stub, a Celery worker) in a temporary directory, and for each
scenario uploads ``--images`` objects at ``--rate`` per second (corpus photos plus about
one in ten hostile inputs from ``tests/integration/corpus.py``) while, at fixed points of
the upload:

* ``kill``:  the worker's pool processes are SIGKILLed mid-task (the main process
  requeues their messages), later the whole worker process group is SIGKILLed and the
  stack restarts it (its message stays invisible for the visibility timeout);
* ``redis``: Redis is SIGKILLed and restarted empty (it keeps no snapshot: its queue is
  lost; worker and api_stub must reconnect by themselves);
* ``api``:   the api_stub is down for a few seconds (SeaweedFS drops the events after
  its retries).

``all`` runs kill + redis together, then api separately. After the faults it waits
until results stop arriving, counts what is missing, runs ``sweep`` once, waits again and
prints one row per scenario: uploaded, done, failed by code, missing before the sweep,
enqueued by the sweep, missing at the end (must be 0), wrong (an outcome other than the
expected one, or a result that records another ETag: must be 0), finished executions of
``palette.process`` for these jobs (cheap "already done" skips included), duplicated work
(executions that did the work again: done/failed beyond one per job) and seconds.
Executions are counted from the one line each finished execution logs (``job <id>
done|failed <code>|skipped <reason>``, worker/tasks.py), read before every restart, so
none is missed; an execution killed mid-task logs nothing, so its partial work is not
counted.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_CORPUS = ROOT / "benchmarks" / "corpus"
FALLBACK_CORPUS = ROOT / "tests" / "data"
BAD_EVERY = 10
"""One upload in this many is a hostile input with a known failure code."""
SETTLE_QUIET_S = 8.0
"""Results have stopped arriving once none came for this long."""
_EXECUTED = re.compile(r"worker\.tasks: job (palette-[0-9a-f]+) (done|failed|skipped)(?= |$)", re.M)
"""The one line each finished execution of ``palette.process`` logs (worker/tasks.py)."""


class StackHandle(Protocol):
    """What the chaos needs of a stack: the test fixture's ``Stack`` has it too."""

    stack_dir: Path
    settings: Any

    def up(self, timeout: float = ...) -> None: ...

    def proc(self, name: str) -> Any: ...


@dataclass(frozen=True)
class Item:
    """One upload and the outcome it must have: ``code`` None means done."""

    key: str
    data: bytes = field(repr=False)
    code: str | None


@dataclass
class Summary:
    scenario: str
    uploaded: int = 0
    done: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    missing_before_sweep: int = 0
    swept: int = 0
    missing: int = 0
    wrong: list[str] = field(default_factory=list)
    executions: int = 0
    duplicated_work: int = 0
    seconds: float = 0.0


# --- what is uploaded -------------------------------------------------------------------


def corpus_images(directory: Path) -> list[tuple[str, bytes]]:
    """Every JPEG/PNG of the corpus directory, by name."""
    files = sorted(p for p in directory.iterdir() if p.suffix.lower() in {".jpg", ".png"})
    return [(p.name, p.read_bytes()) for p in files]


def plan(count: int, images: list[tuple[str, bytes]], prefix: str, max_bytes: int) -> list[Item]:
    """``count`` uploads cycling through the corpus, every ``BAD_EVERY``-th a bad input.

    ``prefix`` is one path segment with its slash (``chaos-1a2b3c4d/``): the sweep and
    the listings are scoped to it, so a run never counts another run's objects.
    """
    from tests.integration.corpus import failing_cases

    bad = [case for case in failing_cases() if len(case.data) <= max_bytes]
    items = []
    for n in range(count):
        if n % BAD_EVERY == BAD_EVERY - 1:
            case = bad[(n // BAD_EVERY) % len(bad)]
            items.append(
                Item(f"{prefix}{n:04d}-{case.key.rsplit('/', 1)[-1]}", case.data, case.code)
            )
            continue
        name, data = images[n % len(images)]
        code = "too_large" if len(data) > max_bytes else None
        items.append(Item(f"{prefix}{n:04d}-{name}", data, code))
    return items


# --- faults -----------------------------------------------------------------------------


class WorkerLog:
    """The worker's log across restarts: each restart rotates it, so read it first."""

    def __init__(self, stack: StackHandle) -> None:
        self.path = stack.stack_dir / "logs" / "worker.log"
        self.saved: list[str] = []

    def save(self) -> None:
        self.saved.append(self.path.read_text(errors="replace"))

    def text(self) -> str:
        return "".join(self.saved) + self.path.read_text(errors="replace")


def kill_pool(stack: StackHandle, log: WorkerLog) -> None:
    """SIGKILL the pool processes; the main process stays and requeues their messages."""
    import signal

    from tests.integration.helpers import children

    for pid in children(stack.proc("worker").pid):
        os.kill(pid, signal.SIGKILL)


def kill_worker(stack: StackHandle, log: WorkerLog) -> None:
    """SIGKILL the whole worker process group, then let the stack start a new one."""
    from tests.integration.helpers import kill_group

    kill_group(stack.proc("worker"))
    log.save()
    stack.up()


def restart_redis(stack: StackHandle, log: WorkerLog) -> None:
    """SIGKILL Redis and start it again, empty: every queued message is gone."""
    from tests.integration.helpers import kill_group

    kill_group(stack.proc("redis"))
    stack.up()


def stop_api(stack: StackHandle, log: WorkerLog) -> None:
    from tests.integration.helpers import kill_group

    kill_group(stack.proc("api_stub"))


def start_api(stack: StackHandle, log: WorkerLog) -> None:
    stack.up()


Fault = Callable[[StackHandle, WorkerLog], None]
SCENARIOS: dict[str, list[tuple[float, Fault]]] = {
    "kill": [(0.3, kill_pool), (0.7, kill_worker)],
    "redis": [(0.5, restart_redis)],
    "kill+redis": [(0.25, kill_pool), (0.5, restart_redis), (0.75, kill_worker)],
    "api": [(0.3, stop_api), (0.6, start_api)],
}
"""Faults at fractions of the upload; ``all`` is kill+redis, then api."""


# --- the run ----------------------------------------------------------------------------


def run_scenario(
    stack: StackHandle,
    scenario: str,
    items: list[Item],
    rate: float,
    settle_timeout: float = 300.0,
    report: Callable[[str], None] = lambda line: None,
    faults_at: list[tuple[float, Fault]] | None = None,
    quiet: float = SETTLE_QUIET_S,
) -> Summary:
    """Upload ``items`` with the scenario's faults, settle, sweep, settle, and count.

    ``faults_at`` replaces the named scenario's (fraction of the upload, fault) list.
    """
    from worker.storage import make_storage

    storage = make_storage(stack.settings)
    try:
        return _run(stack, scenario, items, rate, storage, settle_timeout, report, faults_at, quiet)
    finally:
        storage.close()  # type: ignore[attr-defined]


def _run(
    stack: StackHandle,
    scenario: str,
    items: list[Item],
    rate: float,
    storage: Any,
    settle_timeout: float,
    report: Callable[[str], None],
    faults_at: list[tuple[float, Fault]] | None,
    quiet: float,
) -> Summary:
    log = WorkerLog(stack)
    chosen = SCENARIOS[scenario] if faults_at is None else faults_at
    faults = {int(fraction * len(items)): fault for fraction, fault in chosen}
    started = time.monotonic()
    etags: dict[str, str] = {}
    for n, item in enumerate(items):
        if n in faults:
            report(f"  {scenario}: upload {n}: {faults[n].__name__}")
            faults[n](stack, log)
        etags[item.key] = _put(storage, stack.settings.input_bucket, item)
        _pace(started, n + 1, rate)
    prefix = items[0].key.split("/", 1)[0] + "/"
    missing_before = _settle(storage, stack.settings, prefix, etags, settle_timeout, quiet)
    swept = _sweep(storage, stack.settings, prefix)
    report(f"  {scenario}: {len(missing_before)} missing after the faults, sweep enqueued {swept}")
    missing = _settle(storage, stack.settings, prefix, etags, settle_timeout, quiet=None)
    summary = _summarise(scenario, items, etags, storage, stack.settings, log.text())
    summary.missing_before_sweep, summary.swept, summary.missing = (
        len(missing_before), swept, len(missing))  # fmt: skip
    summary.seconds = time.monotonic() - started
    return summary


def _put(storage: Any, bucket: str, item: Item) -> str:
    return str(storage.put(bucket, item.key, item.data, "application/octet-stream"))


def _pace(started: float, sent: int, rate: float) -> None:
    ahead = started + sent / rate - time.monotonic()
    if ahead > 0:
        time.sleep(ahead)


def _settle(
    storage: Any,
    settings: Any,
    prefix: str,
    etags: dict[str, str],
    timeout: float,
    quiet: float | None = SETTLE_QUIET_S,
) -> list[str]:
    """Wait until every result is there, or (with ``quiet``) until none arrived for a while."""
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while True:
        missing = _missing(storage, settings, prefix, etags)
        if len(missing) != last_count:
            last_count, last_change = len(missing), time.monotonic()
        idle = quiet is not None and time.monotonic() - last_change >= quiet
        if not missing or idle or time.monotonic() >= deadline:
            return missing
        time.sleep(0.5)


def _missing(storage: Any, settings: Any, prefix: str, etags: dict[str, str]) -> list[str]:
    """Keys without a result JSON written after their upload (one listing, no GETs)."""
    present = {info.key for info in storage.list(settings.output_bucket, prefix)}
    return [key for key in etags if key + ".json" not in present]


def _sweep(storage: Any, settings: Any, prefix: str) -> int:
    """What ``palette sweep --prefix`` does, in-process."""
    from worker.enqueue import Enqueuer
    from worker.sweep import sweep

    return sweep(storage, settings, Enqueuer(settings).enqueue, prefix).enqueued


def _summarise(
    scenario: str,
    items: list[Item],
    etags: dict[str, str],
    storage: Any,
    settings: Any,
    log_text: str,
) -> Summary:
    """Read every result back and compare it with what its upload must produce."""
    from worker.storage import get_json

    summary = Summary(scenario, uploaded=len(items))
    for item in items:
        doc = get_json(storage, settings.output_bucket, item.key + ".json")
        if doc is None:
            continue
        problem = _check(item, etags[item.key], doc)
        if problem:
            summary.wrong.append(f"{item.key}: {problem}")
        if doc["status"] == "done":
            summary.done += 1
        else:
            summary.failed[doc.get("error", {}).get("code", "?")] += 1
    _count_work(summary, items, etags, log_text, settings.input_bucket)
    return summary


def _check(item: Item, etag: str, doc: dict[str, Any]) -> str:
    if doc.get("source", {}).get("etag") != etag:
        return f"records etag {doc.get('source', {}).get('etag')}, the object has {etag}"
    got = doc.get("error", {}).get("code") if doc["status"] != "done" else None
    return "" if got == item.code else f"expected {item.code or 'done'}, got {got or 'done'}"


def _count_work(
    summary: Summary, items: list[Item], etags: dict[str, str], text: str, bucket: str
) -> None:
    from worker.jobs import Job

    ids = {Job(bucket=bucket, key=i.key, etag=etags[i.key]).id for i in items}
    worked: Counter[str] = Counter()
    for match in _EXECUTED.finditer(text):
        if match.group(1) in ids:
            summary.executions += 1
            if match.group(2) in {"done", "failed"}:
                worked[match.group(1)] += 1
    summary.duplicated_work = sum(count - 1 for count in worked.values() if count > 1)


# --- output -----------------------------------------------------------------------------

COLUMNS = ("scenario", "uploaded", "done", "failed (by code)", "missing before sweep",
           "swept", "missing", "wrong", "executions", "dup. work", "seconds")  # fmt: skip


def table(summaries: list[Summary]) -> str:
    rows = [COLUMNS] + [_row(s) for s in summaries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def _row(s: Summary) -> tuple[str, ...]:
    failed = ", ".join(f"{code} {n}" for code, n in sorted(s.failed.items())) or "-"
    values = (s.scenario, s.uploaded, s.done, failed, s.missing_before_sweep, s.swept,
              s.missing, len(s.wrong), s.executions, s.duplicated_work,
              f"{s.seconds:.0f}")  # fmt: skip
    return tuple(str(v) for v in values)


# --- own stack and CLI ------------------------------------------------------------------


@contextmanager
def own_stack(workers: int, max_bytes: int) -> Iterator[StackHandle]:
    """A private stack in a temp dir on free ports with its own (restartable) Redis."""
    from infra.private_stack import private_stack

    with private_stack(
        workers=workers,
        prefix="palette-chaos-",
        settings={
            "PALETTE_MAX_BYTES": str(max_bytes),
            # the script runs the sweep itself, once, at the end
            "PALETTE_SWEEP_INTERVAL": "0",
        },
    ) as stack:
        yield stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300, help="uploads per scenario")
    parser.add_argument("--scenario", choices=["all", "kill", "redis", "api"], default="all")
    parser.add_argument("--corpus", type=Path, default=None, help="directory of JPEG/PNG")
    parser.add_argument("--rate", type=float, default=25.0, help="uploads per second")
    parser.add_argument("--workers", type=int, default=2, help="worker concurrency")
    parser.add_argument("--logs", type=Path, default=None, help="copy the stack's logs here")
    args = parser.parse_args(argv)
    from tests.integration.corpus import MAX_BYTES

    corpus = args.corpus or (DEFAULT_CORPUS if DEFAULT_CORPUS.is_dir() else FALLBACK_CORPUS)
    images = corpus_images(corpus)
    names = ["kill+redis", "api"] if args.scenario == "all" else [args.scenario]
    summaries = []
    with own_stack(args.workers, MAX_BYTES) as stack:
        print(f"stack up in {stack.stack_dir}; corpus {corpus} ({len(images)} images)")
        for name in names:
            prefix = f"chaos-{uuid.uuid4().hex[:8]}/"
            items = plan(args.images, images, prefix, MAX_BYTES)
            summaries.append(run_scenario(stack, name, items, args.rate, report=print))
        if args.logs:
            import shutil

            shutil.copytree(stack.stack_dir / "logs", args.logs, dirs_exist_ok=True)
    print(table(summaries))
    for summary in summaries:
        for line in summary.wrong[:20]:
            print(f"wrong: {line}")
    ok = all(s.missing == 0 and not s.wrong for s in summaries)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
