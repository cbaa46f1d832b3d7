"""``palette submit`` and ``palette sweep`` as a user runs them, against the real stack."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_palette

pytestmark = pytest.mark.integration

DATA = Path(__file__).resolve().parents[1] / "data"


def palette(stack: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return run_palette(*args, env=stack.env)


def test_submit_uploads_waits_and_prints_every_result(stack: Any, tmp_path: Path) -> None:
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")
    photo = DATA / "chelsea.jpg"
    run = palette(stack, "submit", "--prefix", "cli/", "--format", "json", str(photo), str(bad))
    assert run.returncode == 1, run.stderr  # one of the two failed, and the exit says so
    docs = json.loads(run.stdout)
    assert [d["source"]["key"] for d in docs] == ["cli/chelsea.jpg", "cli/not-an-image.jpg"]
    assert docs[0]["status"] == "done"
    assert docs[0]["source"]["size"] == photo.stat().st_size
    assert docs[1]["error"]["code"] == "not_an_image"


def test_submitting_the_same_bytes_again_returns_the_current_result(stack: Any) -> None:
    photo = str(DATA / "chelsea.jpg")
    first = palette(stack, "submit", "--prefix", "cli-again/", "--format", "json", photo)
    again = palette(stack, "submit", "--prefix", "cli-again/", "--format", "json", photo)
    assert (first.returncode, again.returncode) == (0, 0), again.stderr
    assert json.loads(again.stdout)[0]["colors"] == json.loads(first.stdout)[0]["colors"]


def test_the_table_names_where_each_result_is(stack: Any) -> None:
    run = palette(stack, "submit", "--prefix", "cli-table/", str(DATA / "chelsea.jpg"))
    assert run.returncode == 0, run.stderr
    assert "json: s3://palettes/cli-table/chelsea.jpg.json" in run.stdout
    assert "bar:  s3://palettes/cli-table/chelsea.jpg.png" in run.stdout
    assert f"{stack.api_url}/palettes/cli-table/chelsea.jpg" in run.stdout
