"""``palette extract``: offline, same document as the worker, one clear line per error."""

import csv
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import run_palette
from worker.cli import main

DATA = Path(__file__).resolve().parents[2] / "data"


def test_extract_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(DATA / "chelsea.jpg"), "-k", "4"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "done"
    assert doc["schema_version"] == 1
    assert doc["options"]["k"] == 4
    assert len(doc["colors"]) == 4
    assert doc["source"]["format"] == "JPEG"


def test_extract_writes_bar_and_json(tmp_path: Path) -> None:
    bar, out = tmp_path / "bar.png", tmp_path / "out.json"
    assert main(["extract", str(DATA / "chelsea.jpg"), "--bar", str(bar), "--json", str(out)]) == 0
    with Image.open(bar) as image:
        assert image.size == (300, 50)
    assert json.loads(out.read_text())["bar"]["key"] == str(bar)


def test_out_writes_every_output_as_the_worker_names_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "in" / "notes.jpg"
    bad.parent.mkdir()
    bad.write_text("not an image")
    out = tmp_path / "out"
    assert main(["extract", str(DATA / "chelsea.jpg"), str(bad), "--out", str(out)]) == 1
    assert sorted(p.name for p in out.iterdir()) == [
        "chelsea.jpg.json",
        "chelsea.jpg.png",
        "notes.jpg.json",  # a failed result has no bar
    ]
    doc = json.loads((out / "chelsea.jpg.json").read_text())
    assert doc["bar"]["key"] == str(out / "chelsea.jpg.png")
    assert doc["colors"] == json.loads(capsys.readouterr().out)[0]["colors"]
    with Image.open(out / "chelsea.jpg.png") as image:
        assert image.size == (300, 50)
    assert json.loads((out / "notes.jpg.json").read_text())["status"] == "failed"


def test_a_bad_file_is_one_line_on_stderr_and_a_failed_exit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    assert main(["extract", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip().count("\n") == 0
    assert "not_an_image" in captured.err
    assert "Traceback" not in captured.err
    assert json.loads(captured.out)["error"]["code"] == "not_an_image"


def test_a_missing_file_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", "/no/such/file.jpg"]) == 1
    assert "source_missing" in capsys.readouterr().err


def test_folders_and_globs_expand_and_csv_has_a_row_per_colour(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, colour in [("red.png", (255, 0, 0)), ("blue.png", (0, 0, 255))]:
        Image.new("RGB", (8, 8), colour).save(tmp_path / name)
    assert main(["extract", str(tmp_path / "*.png"), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(Path(r["file"]).name, r["hex"]) for r in rows] == [
        ("blue.png", "#0000ff"),
        ("red.png", "#ff0000"),
    ]
    assert main(["extract", str(tmp_path), "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


def test_table_format_names_each_colour(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(DATA / "chelsea.jpg"), "--format", "table", "-k", "3"]) == 0
    out = capsys.readouterr().out
    assert out.count("#") == 3
    assert "%" in out


def test_invalid_k_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["extract", str(DATA / "chelsea.jpg"), "-k", "0"]) == 1
    assert "invalid_options" in capsys.readouterr().err


def test_the_console_script_runs_as_a_process() -> None:
    run = run_palette("extract", str(DATA / "chelsea.jpg"), timeout=60)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["status"] == "done"


def test_an_unreachable_store_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PALETTE_STACK_DIR", str(tmp_path / "no-stack"))
    monkeypatch.setenv("PALETTE_S3_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("PALETTE_S3_TIMEOUT", "1")
    assert main(["sweep"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "storage_unavailable" in err
    assert "palette stack up" in err
