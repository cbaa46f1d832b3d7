"""Faults on the real stack: killed workers, a restarted Redis, a stopped api_stub,
a storage outage, duplicate events and keys that try to escape their bucket.

Each test leaves the stack running (``stack.up()`` restarts whatever it killed), so the
tests after it see a healthy stack. Waits are bounded; nothing asserts on timing.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import struct
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from typing import Any

import pytest
import redis
from PIL import Image

from infra import stack as stack_mod
from tests.helpers import run_palette
from tests.integration.helpers import (
    children,
    exists,
    http_get,
    kill_group,
    upload,
    wait_for_result,
    wait_until,
)
from worker import tasks
from worker.celery_app import make_celery
from worker.jobs import Job
from worker.ledger import ATTEMPTS_PREFIX, Ledger
from worker.outputs import OUTPUTS as _OUTPUT_FILES
from worker.storage.s3 import S3Storage

pytestmark = pytest.mark.integration

FAKE_ETAG = "0" * 32
SLOW_SIDE = 6400
"""A PNG this many pixels square decodes for most of a second (41 Mpx RGB: 117 MiB
decoded, under the 128 MiB decode budget and every other limit) yet is 0.15 MB: long
enough to kill its worker mid-task, every time."""


def slow_png(side: int = SLOW_SIDE) -> bytes:
    """Two flat halves, built row by row so the test never holds the raw pixels."""
    row = b"\x00" + bytes((200, 30, 30)) * (side // 2) + bytes((20, 90, 200)) * (side - side // 2)
    packer = zlib.compressobj(6)
    body = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", body) + _chunk(b"IEND")


def _chunk(kind: bytes, data: bytes = b"") -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


OUTPUTS = [output.suffix for output in _OUTPUT_FILES]
"""The suffixes of every file stored beside a result (``worker.outputs``)."""


def small_png(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), colour).save(out, "PNG")
    return out.getvalue()


def worker_log(stack: Any) -> str:
    return (stack.stack_dir / "logs" / "worker.log").read_text(errors="replace")


def job_id(key: str, data: bytes) -> str:
    return Job("images", key, hashlib.md5(data, usedforsecurity=False).hexdigest()).id


def run_cli(stack: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return run_palette(*args, env=stack.env, timeout=60)


def post_event(stack: Any, event: dict[str, Any], token: str | None) -> int:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"{stack.api_url}/events", json.dumps(event).encode(), headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def s3_event(key: str, etag: str) -> dict[str, Any]:
    record = {
        "eventName": "s3:ObjectCreated:Put",
        "s3": {"bucket": {"name": "images"}, "object": {"key": key, "eTag": etag, "size": 1}},
    }
    return {"EventName": "s3:ObjectCreated:Put", "Key": f"images/{key}", "Records": [record]}


# --- (a) killed workers -----------------------------------------------------------------


def started(stack: Any, key: str, data: bytes) -> Any:
    """True once an execution of the job began: the task counts its attempt in Redis
    first thing (and clears the counter when it ends), whatever the log level."""
    attempts = ATTEMPTS_PREFIX + job_id(key, data)

    def check() -> bool:
        client = redis.Redis.from_url(stack.settings.broker_url)
        try:
            return bool(client.exists(attempts))
        finally:
            client.close()

    return check


def _kill_mid_task(stack: Any, key: str, data: bytes) -> None:
    """Upload ``data`` and SIGKILL the worker's pool child as soon as it starts the job."""
    upload(stack.s3, key, data, "image/png")
    assert wait_until(started(stack, key, data), timeout=30), "the job never started"
    worker = stack.proc("worker")
    pool = children(worker.pid)
    assert pool, "no pool process to kill"
    for pid in pool:
        os.kill(pid, signal.SIGKILL)


def test_a_pool_child_killed_mid_task_is_redelivered(stack: Any) -> None:
    """The main process sees its child die and requeues the message at once."""
    data = slow_png()
    key = "faults/killed-child.png"
    _kill_mid_task(stack, key, data)
    doc = wait_for_result(stack.s3, key, timeout=90)
    assert doc["status"] == "done"
    assert {c["hex"] for c in doc["colors"]} == {"#145ac8", "#c81e1e"}
    done_line = f"job {job_id(key, data)} done"
    assert wait_until(lambda: done_line in worker_log(stack), timeout=10)
    log = worker_log(stack)
    assert "WorkerLostError" in log  # the kill did land mid-task
    assert log.count(done_line) == 1


def test_a_killed_worker_process_group_is_recovered_by_the_start_up_sweep(stack: Any) -> None:
    """SIGKILL of the main process leaves its message invisible for the visibility
    timeout (180 s): the worker that runs beat sweeps when it starts, so the restarted
    stack recovers the job at once, without anyone running ``palette sweep``."""
    data = slow_png()
    key = "faults/killed-worker.png"
    upload(stack.s3, key, data, "image/png")
    assert wait_until(started(stack, key, data), timeout=30), "the job never started"
    kill_group(stack.proc("worker"))
    assert not exists(stack.s3, "palettes", key + ".json")  # killed before it finished
    stack_mod.up(stack.stack_dir, beat=True, environ=stack.environ, timeout=120)
    try:
        assert wait_for_result(stack.s3, key, timeout=90)["status"] == "done"
        assert "sweep: scanned" in worker_log(stack)
    finally:  # leave the session's worker as the fixture made it: without beat
        kill_group(stack.proc("worker"))
        stack.up()


# --- (b) Redis restart ------------------------------------------------------------------


def test_work_progresses_after_a_redis_restart(stack: Any) -> None:
    """Health is work progressing: the same worker and api_stub reconnect by themselves."""
    worker_before, api_before = stack.proc("worker"), stack.proc("api_stub")
    kill_group(stack.proc("redis"))
    stack.up()
    assert (stack.proc("worker"), stack.proc("api_stub")) == (worker_before, api_before)
    keys = [f"faults/after-redis-{n}.png" for n in range(3)]
    etags = [upload(stack.s3, key, small_png((10 * n, 100, 200))) for n, key in enumerate(keys)]
    for key, etag in zip(keys, etags, strict=True):
        assert wait_for_result(stack.s3, key, etag, timeout=90)["status"] == "done"


# --- (c) api_stub down ------------------------------------------------------------------


def test_events_lost_while_the_api_stub_is_down_are_recovered_by_sweep(stack: Any) -> None:
    """SeaweedFS retries a failed webhook, then logs it as a dead letter and drops it."""
    kill_group(stack.proc("api_stub"))
    names = [f"lost-{n}.png" for n in range(3)]
    keys = [f"faults/api-down/{name}" for name in names]
    try:
        for n, key in enumerate(keys):
            upload(stack.s3, key, small_png((200, 10 * n, 50)))
        assert wait_until(lambda: all(map(_dropped_by_seaweed(stack), names)), timeout=60)
    finally:
        stack.up()
    assert not any(exists(stack.s3, "palettes", key + ".json") for key in keys)
    run = run_cli(stack, "sweep", "--prefix", "faults/api-down/")
    assert run.returncode == 0, run.stderr
    assert "enqueued 3" in run.stdout
    for key in keys:
        assert wait_for_result(stack.s3, key, timeout=90)["status"] == "done"


def test_deletes_lost_while_the_api_stub_is_down_are_recovered_by_sweep(stack: Any) -> None:
    """Issue 12 item 6: the images go while no removal event gets through; their results
    stay (the gallery would still show them) until the sweep sends their removals. An
    image that is still there keeps its result."""
    keys = [f"faults/deletes-lost/{name}" for name in ("gone-1.png", "gone-2.png", "kept.png")]
    for n, key in enumerate(keys):
        etag = upload(stack.s3, key, small_png((10, 200, 30 * n)))
        assert wait_for_result(stack.s3, key, etag)["status"] == "done"
    gone, kept = keys[:2], keys[2]
    kill_group(stack.proc("api_stub"))
    try:
        for key in gone:
            stack.s3.delete_object(Bucket="images", Key=key)
        assert wait_until(
            lambda: all(map(_dropped_by_seaweed(stack), ("gone-1.png", "gone-2.png"))), timeout=60
        )
    finally:
        stack.up()
    assert all(exists(stack.s3, "palettes", key + suffix) for key in gone for suffix in OUTPUTS)
    run = run_cli(stack, "sweep", "--prefix", "faults/deletes-lost/")
    assert run.returncode == 0, run.stderr
    assert "removals 2" in run.stdout
    for key in gone:
        assert wait_until(
            lambda key=key: not any(exists(stack.s3, "palettes", key + s) for s in OUTPUTS),
            timeout=60,
        )
    assert all(exists(stack.s3, "palettes", kept + suffix) for suffix in OUTPUTS)


def _dropped_by_seaweed(stack: Any) -> Any:
    log_path = stack.stack_dir / "logs" / "seaweedfs.log"

    def dropped(name: str) -> bool:
        text = log_path.read_text(errors="replace")
        return any(
            "dead letter message" in line and f'name:"{name}"' in line for line in text.splitlines()
        )

    return dropped


# --- (d) storage outage -> dead letter --------------------------------------------------


def test_a_storage_outage_ends_in_the_dead_letter_list_after_retries(stack: Any) -> None:
    """The registered task, run in-process against real S3 settings pointing at a port
    nobody listens on, and the real Redis ledger: every retry fails, then dead-letter."""
    dead = stack.settings.with_overrides(s3_endpoint="http://127.0.0.1:9", s3_timeout=1.0)
    app = make_celery(stack.settings)
    task = tasks.register(app, stack.settings, lambda: S3Storage(dead))
    job = Job("images", "faults/outage.png", FAKE_ETAG)
    client = redis.Redis.from_url(stack.settings.broker_url)
    ledger = Ledger(client)
    before = ledger.dead_letter_count()
    try:
        result = task.apply(kwargs={"job": job.to_message()}, task_id=job.id)
        outcome = {"job_id": job.id, "status": "failed", "reason": "storage_unavailable"}
        assert result.result == outcome
        assert ledger.dead_letter_count() == before + 1
        entry = ledger.dead_letters(1)[0]
        assert (entry["job"]["key"], entry["reason"]) == (job.key, "storage_unavailable")
        assert client.get(ATTEMPTS_PREFIX + job.id) is None
        queue = next(row for row in stack.status() if row.name == "queue")
        assert f"{before + 1} dead-lettered" in queue.detail
    finally:
        client.lpop("palette:dead")
        client.close()


# --- (e) duplicates ---------------------------------------------------------------------


def test_duplicate_events_do_the_work_once(stack: Any) -> None:
    key = "faults/duplicated.png"
    data = small_png((1, 2, 3))
    etag = upload(stack.s3, key, data)
    first = wait_for_result(stack.s3, key, etag)
    token = stack.env["PALETTE_WEBHOOK_TOKEN"]
    for _ in range(3):
        assert post_event(stack, s3_event(key, etag), token) == 200
    lines = f"job {job_id(key, data)} "
    assert wait_until(lambda: worker_log(stack).count(lines) >= 4, timeout=30)
    log = worker_log(stack)
    assert log.count(lines + "done") == 1
    assert log.count(lines + "skipped already_done") == 3
    assert wait_for_result(stack.s3, key, etag)["created_at"] == first["created_at"]


# --- (f) security -----------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "wrong", ""], ids=["none", "wrong", "empty"])
def test_events_without_the_token_are_refused(stack: Any, token: str | None) -> None:
    assert post_event(stack, s3_event("faults/x.png", FAKE_ETAG), token) == 401


ESCAPES = [
    "../palettes/escaped.png",
    "a/../../palettes/escaped.png",
    "./escaped.png",
    "/etc/passwd",
    "//palettes/escaped.png",
    "ctrl\x00char.png",
    "new\nline.png",
    "tab\tkey.png",
]


@pytest.mark.parametrize("key", ESCAPES)
def test_escaping_keys_in_events_produce_no_job(stack: Any, key: str) -> None:
    token = stack.env["PALETTE_WEBHOOK_TOKEN"]
    assert post_event(stack, s3_event(urllib.parse.quote_plus(key), FAKE_ETAG), token) == 200
    seaweed = {
        "event_type": "create",
        "key": f"/buckets/images/{key}",
        "message": {"new_entry": {"name": "x", "attributes": {"file_size": 1}}},
    }
    assert post_event(stack, seaweed, token) == 200


def test_no_escaping_key_ever_produced_a_read_or_a_write(stack: Any) -> None:
    """After the escape attempts above: whatever the api_stub let through, the worker
    refused (``skipped unsafe_key``); nothing was written for them anywhere."""
    ids = {Job("images", key, FAKE_ETAG).id for key in ESCAPES}
    assert wait_until(lambda: not _queued_or_running(stack, ids), timeout=30)
    for line in worker_log(stack).splitlines():
        if any(job in line for job in ids) and "worker.tasks: job" in line:
            assert "skipped unsafe_key" in line or "refused key" in line, line
    for bucket in ("images", "palettes"):
        listed = stack.s3.list_objects_v2(Bucket=bucket, Prefix="")
        keys = [o["Key"] for o in listed.get("Contents", [])]
        assert not [k for k in keys if "escaped" in k or "passwd" in k], keys
    buckets = {b["Name"] for b in stack.s3.list_buckets()["Buckets"]}
    assert buckets <= {"images", "palettes"}


def _queued_or_running(stack: Any, ids: set[str]) -> bool:
    client = redis.Redis.from_url(stack.settings.broker_url)
    try:
        waiting = repr(client.lrange("palette", 0, -1))  # the messages, job ids included
        running = any(client.exists(ATTEMPTS_PREFIX + job) for job in ids)
    finally:
        client.close()
    return running or any(job in waiting for job in ids)


def test_a_key_that_aliases_another_does_not_touch_its_result(stack: Any) -> None:
    """On SeaweedFS "/faults/alias.png" and "faults//alias.png" ARE "faults/alias.png":
    a job for them would write that image's result, recording the wrong key."""
    key = "faults/alias.png"
    etag = upload(stack.s3, key, small_png((40, 50, 60)))
    wait_for_result(stack.s3, key, etag)
    stack.s3.delete_object(Bucket="palettes", Key=key + ".json")
    stack.s3.delete_object(Bucket="palettes", Key=key + ".png")
    token = stack.env["PALETTE_WEBHOOK_TOKEN"]
    aliases = ("/" + key, "faults//alias.png")
    for alias in aliases:
        assert post_event(stack, s3_event(urllib.parse.quote_plus(alias), etag), token) == 200
    ids = {Job("images", alias, etag).id for alias in aliases}
    assert wait_until(lambda: not _queued_or_running(stack, ids), timeout=30)
    time.sleep(1.0)  # give a (wrongly) enqueued job the chance to run
    for line in worker_log(stack).splitlines():  # the api_stub refuses them; were one
        if any(job in line for job in ids) and "worker.tasks: job" in line:  # through,
            assert "skipped unsafe_key" in line, line  # the worker would refuse it too
    assert not exists(stack.s3, "palettes", key + ".json")
    assert not exists(stack.s3, "palettes", key + ".png")


def test_the_api_stub_enqueues_no_job_for_an_aliasing_key(stack: Any) -> None:
    token = stack.env["PALETTE_WEBHOOK_TOKEN"]
    request = urllib.request.Request(
        f"{stack.api_url}/events",
        json.dumps(s3_event("%2Fetc%2Fpasswd", FAKE_ETAG)).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["enqueued"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/palettes/../palettes/x",
        "/palettes/%2e%2e/palettes/x",
        "/palettes/a/%2E%2E/%2E%2E/etc/passwd",
        "/palettes/%00x",
        "/palettes/a%0Ab",
    ],
)
def test_result_lookups_cannot_leave_the_buckets(stack: Any, path: str) -> None:
    status, body = http_get(stack.api_url + path)
    assert status in {400, 404}, (status, body)
    assert "colors" not in body


def test_a_result_under_an_odd_key_is_served_only_for_that_key(stack: Any) -> None:
    key = "faults/odd/ü +%.png"
    etag = upload(stack.s3, key, small_png((5, 6, 7)))
    wait_for_result(stack.s3, key, etag)
    status, body = http_get(f"{stack.api_url}/palettes/{urllib.parse.quote(key)}")
    assert (status, body["source"]["key"]) == (200, key)
    status, _ = http_get(f"{stack.api_url}/palettes/faults/odd/%C3%BC%20%2B%25.png.json")
    assert status == 404


def test_no_attempt_counter_outlives_its_job(stack: Any) -> None:
    """After every fault above (kills included), each job's attempt counter was cleared."""
    client = redis.Redis.from_url(stack.settings.broker_url)
    try:
        assert list(client.scan_iter(ATTEMPTS_PREFIX + "*")) == []
    finally:
        client.close()
