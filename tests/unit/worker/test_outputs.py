"""The outputs seam: the files of a result are one list, and a new file is one entry.

The seam test adds a CSS palette file to ``worker.outputs.OUTPUTS`` (and nowhere else)
and follows it through the real Celery tasks run in-process (``apply``) on the in-memory
store: the worker writes it, an ``ObjectRemoved`` event's removal job deletes it,
``palette submit`` and the gallery list it, ``GET /files/css/{key}`` serves it and
``palette extract --out`` writes it too. The ledger points at a port where no Redis
listens, which the tasks survive (``test_task_wrapper``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from api_stub.events import parse_event
from tests.unit.api_stub.test_app import web_client
from worker import outputs
from worker.celery_app import make_celery
from worker.cli import main
from worker.cli.client import _print_locations
from worker.config import Settings
from worker.jobs import Job, unsafe_key_reason
from worker.outputs import BAR, OUTPUTS, PALETTE_JSON, Output
from worker.storage import MemoryStorage
from worker.tasks import register

NO_REDIS = "redis://127.0.0.1:9/0"
KEY = "cats/a b.jpg"


def palette_css(doc: dict[str, Any]) -> bytes:
    """A stylesheet of the palette as custom properties, one per colour, in order."""
    lines = [f"  --palette-{n}: {c['hex']};" for n, c in enumerate(doc["colors"], start=1)]
    return (":root {\n" + "\n".join(lines) + "\n}\n").encode("utf-8")


CSS = Output("css", ".css", "text/css", palette_css)


@pytest.fixture
def with_css(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one change a new output needs: an entry before the JSON."""
    monkeypatch.setattr(outputs, "OUTPUTS", (BAR, CSS, PALETTE_JSON))


def worker_app(storage: MemoryStorage) -> Any:
    settings = Settings.from_env({"PALETTE_BROKER_URL": NO_REDIS})
    app = make_celery(settings)
    register(app, settings, lambda: storage)
    return app


def run(app: Any, task: str, job: Job) -> dict[str, str]:
    outcome: dict[str, str] = app.tasks[task].apply(kwargs={"job": job.to_message()}).result
    return outcome


def test_the_files_are_the_bar_then_the_json_which_commits_the_result() -> None:
    assert OUTPUTS == (BAR, PALETTE_JSON)
    assert [o.key("cats/a.jpg") for o in OUTPUTS] == ["cats/a.jpg.png", "cats/a.jpg.json"]
    assert outputs.files() == (BAR,)
    assert list(outputs.removal_order()) == [PALETTE_JSON, BAR]


def test_an_output_after_the_json_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outputs, "OUTPUTS", (BAR, PALETTE_JSON, CSS))
    with pytest.raises(AssertionError, match="commit point"):
        outputs.files()


@pytest.mark.usefixtures("with_css")
def test_a_new_output_is_written_before_the_json(photo_bytes: bytes) -> None:
    storage = MemoryStorage()
    storage.put("images", KEY, photo_bytes, "image/jpeg")
    assert run(worker_app(storage), "palette.process", Job("images", KEY))["status"] == "done"
    doc = json.loads(storage.objects[("palettes", KEY + ".json")][0])
    css, content_type = storage.objects[("palettes", KEY + ".css")][:2]
    assert content_type == "text/css"
    assert css == palette_css(doc)
    assert f"--palette-1: {doc['colors'][0]['hex']};" in css.decode()
    written = [key for bucket, key in storage.objects if bucket == "palettes"]
    assert written == [KEY + ".png", KEY + ".css", KEY + ".json"]  # the JSON last


@pytest.mark.usefixtures("with_css")
def test_a_new_output_goes_when_its_image_is_removed(photo_bytes: bytes) -> None:
    storage = MemoryStorage()
    storage.put("images", KEY, photo_bytes, "image/jpeg")
    storage.put("palettes", "other.jpg.css", b":root {}", "text/css")
    app = worker_app(storage)
    run(app, "palette.process", Job("images", KEY))
    storage.delete("images", KEY)
    event = {
        "Records": [
            {
                "eventName": "ObjectRemoved:Delete",
                "s3": {"bucket": {"name": "images"}, "object": {"key": "cats/a+b.jpg"}},
            }
        ]
    }
    (job,) = parse_event(event, "images").jobs
    assert run(app, job.task_name, job)["status"] == "removed"
    assert [i.key for i in storage.list("palettes")] == ["other.jpg.css"]


@pytest.mark.usefixtures("with_css")
def test_a_new_output_is_listed_with_a_done_result_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings = Settings.from_env({})
    _print_locations({"status": "done", "source": {"key": KEY}}, settings)
    _print_locations({"status": "failed", "source": {"key": "bad.jpg"}}, settings)
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == [
        f"  json: s3://palettes/{KEY}.json",
        f"  bar:  s3://palettes/{KEY}.png",
        f"  css:  s3://palettes/{KEY}.css",
    ]
    assert [line for line in lines if "bad.jpg" in line and "s3://" in line] == [
        "  json: s3://palettes/bad.jpg.json"
    ]


@pytest.mark.usefixtures("with_css")
def test_a_new_output_is_listed_and_served_by_the_api(photo_bytes: bytes) -> None:
    storage = MemoryStorage()
    storage.put("images", KEY, photo_bytes, "image/jpeg")
    run(worker_app(storage), "palette.process", Job("images", KEY))
    client, _ = web_client(storage)
    (item,) = client.get("/palettes").json()["items"]
    assert item["files"] == {"bar": f"/files/bar/{quote(KEY)}", "css": f"/files/css/{quote(KEY)}"}
    response = client.get(item["files"]["css"])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert response.content == storage.objects[("palettes", KEY + ".css")][0]


@pytest.mark.usefixtures("with_css")
def test_a_new_output_is_written_by_palette_extract_too(photo_bytes: bytes, tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(photo_bytes)
    assert main(["extract", str(tmp_path / "a.jpg"), "--out", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "a.jpg.json").read_text())
    assert (tmp_path / "out" / "a.jpg.css").read_bytes() == palette_css(doc)


def test_every_output_key_of_an_accepted_image_key_fits_in_s3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    longest = "k" * (1024 - len(".json"))
    assert unsafe_key_reason(longest) is None
    assert unsafe_key_reason(longest + "k") is not None
    ase = Output("ase", ".palette.ase", "application/octet-stream", palette_css)
    monkeypatch.setattr(outputs, "OUTPUTS", (BAR, ase, PALETTE_JSON))
    assert unsafe_key_reason(longest) == "key longer than 1012 bytes"


@pytest.mark.parametrize(
    ("output_key", "image"),
    [
        ("cats/a b.jpg.json", "cats/a b.jpg"),
        ("cats/a b.jpg.png", "cats/a b.jpg"),
        ("x.png.json", "x.png"),  # an image named like a bar
        ("x.json.png", "x.json"),
        ("notes.txt", None),  # no output makes it
        (".json", None),  # the suffix alone: no image key
    ],
)
def test_every_output_key_names_its_image(output_key: str, image: str | None) -> None:
    assert outputs.image_of(output_key) == image
    if image is not None:
        assert any(output.key(image) == output_key for output in OUTPUTS)
