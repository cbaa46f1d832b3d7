"""End to end on real components: S3 PUT → SeaweedFS event → api_stub → Redis → Celery worker.

Nothing here is mocked: the ``stack`` fixture runs ``weed mini``, the api_stub and a
Celery worker process, exactly as ``palette stack up`` does for a user.
"""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.helpers import run_palette
from tests.integration.helpers import exists, http_get, upload, wait_for_result

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"


def test_an_upload_becomes_a_palette_json_and_a_bar_png(stack: Any) -> None:
    data = (DATA / "chelsea.jpg").read_bytes()
    etag = upload(stack.s3, "e2e/chelsea.jpg", data)
    doc = wait_for_result(stack.s3, "e2e/chelsea.jpg", etag)

    assert doc["status"] == "done"
    assert doc["schema_version"] == 1
    assert doc["source"] == doc["source"] | {
        "bucket": "images",
        "key": "e2e/chelsea.jpg",
        "etag": etag,
        "size": len(data),
        "format": "JPEG",
    }
    colors = doc["colors"]
    assert len(colors) == 5
    shares = [c["proportion"] for c in colors]
    assert shares == sorted(shares, reverse=True)
    assert sum(shares) == pytest.approx(1.0, abs=1e-9)
    assert sum(c["pixel_count"] for c in colors) == doc["pixels"]["counted"]
    assert len({c["hex"] for c in colors}) == len(colors)

    png = stack.s3.get_object(Bucket="palettes", Key="e2e/chelsea.jpg.png")["Body"].read()
    bar = Image.open(io.BytesIO(png))
    assert bar.size == (300, 50)
    # the bar's first and last pixels are the first and last colours of the JSON
    first, last = colors[0]["rgb"], colors[-1]["rgb"]
    row = bar.convert("RGB").crop((0, 25, 300, 26)).tobytes()  # one row, RGB bytes
    assert list(row[:3]) == first
    assert list(row[-3:]) == last


def test_the_result_and_the_job_log_line_name_the_host(stack: Any) -> None:
    """Many hosts, one queue: an operator traces any result to the machine that made it."""
    import socket

    from worker.jobs import Job

    data = (DATA / "synth_flat.png").read_bytes()
    etag = upload(stack.s3, "e2e/host.png", data, "image/png")
    doc = wait_for_result(stack.s3, "e2e/host.png", etag)
    host = socket.gethostname()
    assert doc["worker"]["host"] == host
    line = f"job {Job('images', 'e2e/host.png', etag).id} done  host={host}"
    log = stack.stack_dir / "logs" / "worker.log"
    deadline = time.monotonic() + 10
    while line not in log.read_text(errors="replace") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert line in log.read_text(errors="replace")


def test_a_non_image_ends_in_a_failed_json_and_the_worker_carries_on(stack: Any) -> None:
    upload(stack.s3, "e2e/notes.jpg", b"this is a text file, not a JPEG", "image/jpeg")
    failed = wait_for_result(stack.s3, "e2e/notes.jpg")
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "not_an_image"
    assert failed["error"]["message"]
    assert failed["colors"] == []
    assert not exists(stack.s3, "palettes", "e2e/notes.jpg.png")

    etag = upload(stack.s3, "e2e/after-failure.jpg", (DATA / "chelsea.jpg").read_bytes())
    assert wait_for_result(stack.s3, "e2e/after-failure.jpg", etag)["status"] == "done"


@pytest.mark.parametrize(
    "key",
    ["odd keys/a b+c ü%.jpg", "deep/er/and/deeper/x.jpg", "plus+sign.jpg", "100%.jpg"],
)
def test_awkward_keys_land_at_exactly_their_result_key(stack: Any, key: str) -> None:
    etag = upload(stack.s3, key, (DATA / "chelsea.jpg").read_bytes())
    doc = wait_for_result(stack.s3, key, etag)
    assert doc["source"]["key"] == key
    assert doc["bar"]["key"] == key + ".png"
    assert exists(stack.s3, "palettes", key + ".png")


def test_an_overwrite_replaces_the_result(stack: Any) -> None:
    key = "e2e/overwritten.png"
    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(buffer, "PNG")
    first = upload(stack.s3, key, buffer.getvalue(), "image/png")
    assert wait_for_result(stack.s3, key, first)["colors"][0]["hex"] == "#c81e1e"

    buffer = io.BytesIO()
    Image.new("RGB", (40, 40), (20, 90, 200)).save(buffer, "PNG")
    second = upload(stack.s3, key, buffer.getvalue(), "image/png")
    doc = wait_for_result(stack.s3, key, second)
    assert [c["hex"] for c in doc["colors"]] == ["#145ac8"]


def test_results_do_not_trigger_more_work(stack: Any) -> None:
    etag = upload(stack.s3, "e2e/loop.jpg", (DATA / "chelsea.jpg").read_bytes())
    wait_for_result(stack.s3, "e2e/loop.jpg", etag)
    time.sleep(1.0)
    listed = stack.s3.list_objects_v2(Bucket="palettes", Prefix="e2e/loop")
    assert sorted(o["Key"] for o in listed["Contents"]) == ["e2e/loop.jpg.json", "e2e/loop.jpg.png"]
    assert not [
        o["Key"]
        for o in stack.s3.list_objects_v2(Bucket="images").get("Contents", [])
        if o["Key"].endswith((".json", ".png")) and o["Key"].startswith("e2e/loop")
    ]


def test_the_api_stub_serves_results_pending_and_unknown(stack: Any) -> None:
    etag = upload(stack.s3, "e2e/api check.jpg", (DATA / "chelsea.jpg").read_bytes())
    wait_for_result(stack.s3, "e2e/api check.jpg", etag)
    quoted = urllib.parse.quote("e2e/api check.jpg")
    status, body = http_get(f"{stack.api_url}/palettes/{quoted}")
    assert status == 200
    assert body["source"]["etag"] == etag
    status, body = http_get(f"{stack.api_url}/palettes/e2e/no-such-image.jpg")
    assert status == 404
    status, body = http_get(f"{stack.api_url}/healthz")
    assert status == 200


def test_sweep_recovers_a_lost_result(stack: Any) -> None:
    key = "e2e/swept.jpg"
    etag = upload(stack.s3, key, (DATA / "chelsea.jpg").read_bytes())
    wait_for_result(stack.s3, key, etag)
    stack.s3.delete_object(Bucket="palettes", Key=key + ".json")
    stack.s3.delete_object(Bucket="palettes", Key=key + ".png")

    run = run_palette("sweep", "--prefix", "e2e/swept", env=stack.env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "enqueued 1" in run.stdout
    assert wait_for_result(stack.s3, key, etag)["status"] == "done"
    assert exists(stack.s3, "palettes", key + ".png")
