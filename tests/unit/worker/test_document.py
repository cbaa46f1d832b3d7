import json

from worker import document
from worker.errors import CorruptImage

PALETTE = {
    "source": {"format": "PNG", "width": 2, "height": 1},
    "options": {"k": 2, "color_space": "oklab"},
    "colors": [{"hex": "#ff0000", "rgb": [255, 0, 0], "proportion": 1.0, "pixel_count": 2}],
    "pixels": {"counted": 2, "ignored_transparent": 0},
    "quality": {"k_requested": 2, "k_returned": 1},
    "timings_ms": {"decode": 0.123, "cluster": 1.0},
}


def test_done_merges_provenance_and_image_facts() -> None:
    source = document.source_ref("images", "a.png", "e", 10)
    doc = document.done(source, PALETTE, document.bar_ref("palettes", "a.png.png"), {"upload": 2})
    assert doc["schema_version"] == 1
    assert doc["status"] == "done"
    assert doc["source"] == {
        "bucket": "images",
        "key": "a.png",
        "etag": "e",
        "size": 10,
        "format": "PNG",
        "width": 2,
        "height": 1,
    }
    assert doc["bar"]["width"] == 300
    assert doc["timings_ms"] == {"decode": 0.12, "cluster": 1.0, "upload": 2}
    assert doc["created_at"].endswith("Z")
    assert doc["worker"]["version"]


def test_done_merges_the_cpu_of_the_core_and_the_worker_stages() -> None:
    palette = {**PALETTE, "cpu_ms": {"decode": 0.111, "cluster": 0.9}}
    source = document.source_ref("images", "a.png", "e", 10)
    doc = document.done(source, palette, None, {"upload": 2}, {"download": 0.3, "upload": 0.456})
    assert doc["cpu_ms"] == {"decode": 0.11, "cluster": 0.9, "download": 0.3, "upload": 0.46}


def test_failed_has_a_code_a_message_and_no_colours() -> None:
    doc = document.failed(document.source_ref("images", "a", None, 0), CorruptImage("truncated"))
    assert doc["status"] == "failed"
    assert doc["error"] == {
        "code": "corrupt_image",
        "message": "truncated",
        "retryable": False,
        "attempts": 1,
    }
    assert doc["colors"] == []


def test_encode_is_utf8_json_and_stable() -> None:
    doc = document.failed(document.source_ref("images", "ü.png", None, 0), CorruptImage("x"))
    encoded = document.encode(doc)
    assert json.loads(encoded)["source"]["key"] == "ü.png"
    assert document.encode(doc) == encoded


def test_every_result_names_the_host_that_made_it() -> None:
    import socket

    source = document.source_ref("images", "a.png", "e", 10)
    done = document.done(source, PALETTE, None, {})
    failed = document.failed(source, CorruptImage("x"))
    assert done["worker"]["host"] == failed["worker"]["host"] == socket.gethostname()
