"""A host that vanishes loses nothing (issue 10): hosts simulated by network namespaces.

The services listen on a bridge address (``palette stack up --bind ADDR --workers 0``);
two worker hosts, each in its own network namespace with its own hostname, HOME and
working directory, know nothing but ``palette stack env``'s exports. Mid-batch one
host's link goes down and every process on it is SIGKILLed while it holds jobs; the
other host must finish them: every upload ends with its current result, one each,
within ``PALETTE_VISIBILITY_TIMEOUT`` plus the restore scan (the sweep, every
``PALETTE_SWEEP_INTERVAL``, is the backstop). Production defaults (180 s + 300 s) bound
that by 5 minutes plus a job; the test uses short ones.

Skipped, with the reason, where namespaces cannot be made (not root, no ``ip``).
"""

from __future__ import annotations

import io
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from infra import netns
from infra.cluster import Cluster, simulated_cluster
from infra.processes import wait_until
from tests.integration.helpers import upload
from worker.jobs import Job
from worker.storage import get_json, s3_client
from worker.storage.s3 import S3Storage

pytestmark = pytest.mark.integration

IMAGES = 24
SIDE = 480
"""Noise this size keeps a job busy long enough (~0.1-0.3 s) to be caught mid-flight."""
SETTINGS = {
    "PALETTE_VISIBILITY_TIMEOUT": "10",
    "PALETTE_SWEEP_INTERVAL": "20",
    # the visibility timeout must exceed the hard limit by 5 s; these jobs take < 1 s
    "PALETTE_SOFT_TIME_LIMIT": "4",
    "PALETTE_TIME_LIMIT": "5",
}
RECOVERY_BUDGET_S = 10 + 10 + 20 + 30
"""Visibility timeout + one restore scan (RESTORE_INTERVAL) + one sweep + slack for a
loaded machine: far inside the 5 minutes the issue allows with production settings."""


def _skip_without_namespaces() -> None:
    ok, reason = netns.available()
    if not ok:
        pytest.skip(reason)


def noise_png(seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (SIDE, SIDE, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", compress_level=1)
    return out.getvalue()


def current(storage: Any, output_bucket: str, key: str, etag: str) -> bool:
    doc = get_json(storage, output_bucket, key + ".json")
    return doc is not None and doc.get("source", {}).get("etag") == etag


def test_a_host_that_vanishes_mid_batch_loses_nothing() -> None:
    _skip_without_namespaces()
    with simulated_cluster(2, settings=SETTINGS) as cluster:
        victim, survivor = cluster.hosts
        settings = cluster.stack.settings
        s3, storage = s3_client(settings), S3Storage(settings)
        try:
            etags = {
                f"cluster/{n:03d}.png": upload(
                    s3, f"cluster/{n:03d}.png", noise_png(n), "image/png"
                )
                for n in range(IMAGES)
            }
            held, lost = _cut_mid_batch(cluster, victim, storage, settings.output_bucket, etags)
            cut_at = time.monotonic()
            finished = wait_until(
                lambda: all(
                    current(storage, settings.output_bucket, k, e) for k, e in etags.items()
                ),
                timeout=RECOVERY_BUDGET_S,
                interval=0.5,
            )
            recovered_in = time.monotonic() - cut_at
            assert finished, _missing(cluster, storage, settings.output_bucket, etags)
            docs = {k: get_json(storage, settings.output_bucket, k + ".json") for k in etags}
        finally:
            s3.close()
            storage.close()
        _assert_made_once(cluster, etags, held, lost)
    hosts = {doc["worker"]["host"] for doc in docs.values() if doc}
    assert hosts == {victim.name, survivor.name}, "each host's hostname names its results"
    for key in etags:
        job = Job("images", key, etags[key]).id
        if job in held:
            doc = docs[key]
            assert doc is not None
            assert doc["worker"]["host"] == (survivor.name if job in lost else victim.name)
    assert recovered_in < RECOVERY_BUDGET_S


SETTLE_S = 0.5
"""After the link goes down: long enough for what needs no network (the log line after
a job's last write) to happen, so the log then says exactly what the host still holds."""


def _cut_mid_batch(
    cluster: Cluster, victim: netns.Host, storage: Any, bucket: str, etags: dict[str, str]
) -> tuple[set[str], set[str]]:
    """Cut the victim (link down, then SIGKILL) while it holds jobs, after it finished
    some; the jobs it held, and those of them whose results it had not stored.

    A job takes a fraction of a second: seen held, it may be finished by the time the
    link goes down. Off the network the host can finish nothing, so what its log says
    it holds then is all it can lose (rarely nothing: then the run shows only that every
    upload still ends with its result; a link brought back to try again hands the
    host's jobs to the other while it still runs them). A held job may still have
    stored its result just before the link went down, its log line then waiting on
    Redis (the job's bookkeeping comes between the last write and the line): the store
    says which.
    """
    keys = {Job("images", key, etag).id: (key, etag) for key, etag in etags.items()}
    mid_batch = wait_until(
        lambda: len(cluster.outcomes(victim)) >= 2 and bool(cluster.held(victim)),
        timeout=120,
        interval=0.02,
    )
    assert mid_batch, cluster.log(victim)
    victim.link_down()
    time.sleep(SETTLE_S)
    held = cluster.held(victim)
    victim.kill()
    return held, {job for job in held if not current(storage, bucket, *keys[job])}


def _assert_made_once(
    cluster: Cluster, etags: dict[str, str], held: set[str], lost: set[str]
) -> None:
    """Each job is made on one host or the other; the lost ones by the survivor.

    Made = a ``done`` line in a host's log, or, for a held job whose result the victim
    stored before the cut (``_cut_mid_batch``), that stored result itself."""
    _victim, survivor = cluster.hosts
    done = [
        job for host in cluster.hosts for job, status in cluster.outcomes(host) if status == "done"
    ]
    stored_unlogged = held - lost
    jobs = {Job("images", key, etag).id for key, etag in etags.items()}
    made = {*done, *stored_unlogged}
    assert made == jobs, "every job made, none missing"
    # Not asserted: that none is made twice. When the sweep runs while a lost job waits
    # out its visibility timeout, both copies may run before either stores a result
    # (the sweep does not know what is queued): duplicated work, one current result.
    survivor_done = {job for job, status in cluster.outcomes(survivor) if status == "done"}
    assert lost <= survivor_done, "what the vanished host lost was finished by the other"


def _missing(cluster: Cluster, storage: Any, bucket: str, etags: dict[str, str]) -> str:
    missing = [k for k, e in etags.items() if not current(storage, bucket, k, e)]
    survivor = cluster.hosts[1]
    return f"no current result for {missing}\n--- survivor log ---\n{cluster.log(survivor)[-3000:]}"


def test_the_namespaces_and_the_bridge_are_gone_afterwards() -> None:
    """Runs after the cluster test in this module: nothing of ours is left."""
    _skip_without_namespaces()
    assert netns.leftovers() == []
