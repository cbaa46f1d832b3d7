"""Hostile and odd uploads, through the whole pipeline and through ``palette extract``.

Every input of ``corpus.py`` is uploaded once (one batch for the module), then each
parametrised test reads its own result: a ``done`` palette with the known colours, or
a failed JSON with the specific ``error.code`` and no colours. The same files go through
the CLI, which must exit non-zero with exactly one line on stderr and no traceback.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_palette
from tests.integration.corpus import MAX_BYTES, Case, all_cases, failing_cases, good_cases
from tests.integration.helpers import exists, upload, wait_for_result

pytestmark = pytest.mark.integration

CASES = all_cases()
CLI_TIMEOUT = 60


@pytest.fixture(scope="module")
def results(stack: Any) -> dict[str, dict[str, Any]]:
    """Upload every case, then wait for each result: one batch serves every assertion."""
    etags = {case.key: upload(stack.s3, case.key, case.data, "application/octet-stream")
             for case in CASES}  # fmt: skip
    return {key: wait_for_result(stack.s3, key, etag, timeout=90) for key, etag in etags.items()}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_every_upload_ends_in_its_expected_result(
    case: Case, results: dict[str, dict[str, Any]], stack: Any
) -> None:
    doc = results[case.key]
    assert doc["source"]["key"] == case.key
    if case.code is not None:
        assert (doc["status"], doc["error"]["code"]) == ("failed", case.code), doc.get("error")
        assert doc["error"]["message"]
        assert doc["colors"] == []
        assert not exists(stack.s3, "palettes", case.key + ".png")
        return
    assert doc["status"] == "done", doc.get("error")
    _check_done(case, doc)
    assert exists(stack.s3, "palettes", case.key + ".png")


def _check_done(case: Case, doc: dict[str, Any]) -> None:
    if case.colors is not None:
        assert tuple(c["hex"] for c in doc["colors"]) == case.colors
    if case.check is not None:
        case.check(doc)
    assert sum(c["pixel_count"] for c in doc["colors"]) == doc["pixels"]["counted"]


def test_the_worker_survived_the_corpus(results: dict[str, dict[str, Any]], stack: Any) -> None:
    """No input may kill the worker: the same process is still running and answering."""
    worker = next(row for row in stack.status() if row.name == "worker")
    assert worker.healthy, worker
    assert all(doc["worker"] for doc in results.values())


# --- the CLI ---------------------------------------------------------------------------


def _extract(paths: list[Path], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_palette(
        "extract",
        "--format",
        "json",
        *map(str, paths),
        env={"PALETTE_MAX_BYTES": str(MAX_BYTES)},
        cwd=tmp_path,
        timeout=CLI_TIMEOUT,
    )


def _write(case: Case, directory: Path) -> Path:
    path = directory / case.key.replace("/", "_")
    path.write_bytes(case.data)
    return path


@pytest.mark.parametrize("case", failing_cases(), ids=lambda case: case.name)
def test_extract_fails_with_one_clear_line(case: Case, tmp_path: Path) -> None:
    path = _write(case, tmp_path)
    run = _extract([path], tmp_path)
    assert run.returncode == 1
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"palette: {path}: {case.code}: "), lines[0]
    assert "Traceback" not in run.stderr
    doc = json.loads(run.stdout)
    assert (doc["status"], doc["error"]["code"]) == ("failed", case.code)


def test_extract_gives_the_same_palettes_as_the_pipeline(
    tmp_path: Path, results: dict[str, dict[str, Any]]
) -> None:
    cases = good_cases()
    run = _extract([_write(case, tmp_path) for case in cases], tmp_path)
    assert (run.returncode, run.stderr) == (0, "")
    for case, doc in zip(cases, json.loads(run.stdout), strict=True):
        assert doc["status"] == "done", case.name
        assert doc["colors"] == results[case.key]["colors"], case.name


DAMAGED_TIFF = bytes.fromhex(
    "49492a00080000000a000001040001000000060000000101040001000000040000000201030003000000"
    "8600000003010300710000000100000006010300010000000200000011010400010000008c0000001501"
    "0300010000001f0000001601040001000000040000001701040001000000480000001c01030001000000"
    "0100000000000000080008000800c81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec8"
    "1e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec81e1ec8f41ec8"
    "1e1e"
)
"""Found by fuzzing: SamplesPerPixel damaged, so Pillow's libtiff decoder prints
"More samples per pixel than can be decoded" straight to file descriptor 2."""


def test_extract_of_a_damaged_tiff_prints_one_line(tmp_path: Path) -> None:
    path = tmp_path / "damaged.tif"
    path.write_bytes(DAMAGED_TIFF)
    run = _extract([path], tmp_path)
    assert run.returncode == 1
    assert len(run.stderr.splitlines()) == 1, run.stderr
