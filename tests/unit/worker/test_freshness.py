"""The one freshness rule (``worker.freshness.is_current``), case by case."""

from __future__ import annotations

from typing import Any

import pytest

from worker import __version__
from worker.freshness import expected_options, is_current, recorded_metadata

ETAG = "c4ca4238a0b923820dcc509a6f75849b"


def result(
    etag: str | None = ETAG,
    metadata: dict[str, str] | None = None,
    status: str = "done",
    version: str = __version__,
    **changes: Any,
) -> dict[str, Any]:
    """A result as the worker stores it (only the fields the rule reads)."""
    asked = metadata or {}
    options = expected_options(asked, 5)
    doc: dict[str, Any] = {
        "status": status,
        "source": {"etag": etag, "metadata": asked},
        "options": options if status == "done" else {"k": (options or {}).get("k", 5)},
        "worker": {"version": version, "host": "h"},
    }
    return {**doc, **changes}


def test_the_same_etag_version_and_options_are_current() -> None:
    assert is_current(result(), ETAG, {}, 5)
    assert is_current(result(), f'"{ETAG}"', {}, 5)  # quoted, as in HTTP headers


@pytest.mark.parametrize(("recorded", "current"), [(None, ETAG), (ETAG, None), (None, None)])
def test_a_missing_etag_on_either_side_is_never_current(
    recorded: str | None, current: str | None
) -> None:
    assert not is_current(result(etag=recorded), current, {}, 5)


def test_another_etag_or_worker_version_is_stale() -> None:
    assert not is_current(result(), "0" * 32, {}, 5)
    assert not is_current(result(version="0.0.1"), ETAG, {}, 5)
    assert not is_current(result(worker={}), ETAG, {}, 5)


def test_the_options_the_upload_asks_for_decide() -> None:
    three = result(metadata={"palette-k": "3"})
    assert three["options"]["k"] == 3
    assert is_current(three, ETAG, {"palette-k": "3", "other": "x"}, 5)
    assert not is_current(three, ETAG, {"palette-k": "4"}, 5)  # same bytes, another k
    assert not is_current(three, ETAG, {}, 5)
    assert not is_current(result(), ETAG, {"palette-k": "3"}, 5)


def test_the_default_k_and_every_other_option_count() -> None:
    assert not is_current(result(), ETAG, {}, 6)
    doc = result()
    assert not is_current({**doc, "options": {**doc["options"], "sample_size": 1}}, ETAG, {}, 5)
    assert not is_current({**doc, "options": {"k": 5}}, ETAG, {}, 5)


def test_a_failed_result_is_current_for_its_version_and_k() -> None:
    failed = result(status="failed", error={"code": "not_an_image"})
    assert is_current(failed, ETAG, {}, 5)
    assert not is_current(failed, ETAG, {}, 3)
    assert not is_current({**failed, "options": {}}, ETAG, {}, 5)


def test_invalid_options_have_one_current_result_the_failure_naming_them() -> None:
    bad = {"palette-k": "many"}
    assert expected_options(bad, 5) is None
    failure = result(metadata=bad, status="failed", options={}, error={"code": "invalid_options"})
    assert is_current(failure, ETAG, bad, 5)
    assert not is_current(failure, ETAG, {"palette-k": "lots"}, 5)
    assert not is_current({**failure, "status": "done"}, ETAG, bad, 5)


def test_the_sweep_can_judge_from_the_recorded_metadata() -> None:
    """A listing has no metadata: a per-upload k result is current by what it recorded."""
    three = result(metadata={"palette-k": "3"})
    assert is_current(three, ETAG, recorded_metadata(three), 5)
    assert recorded_metadata({"source": {"etag": ETAG}}) == {}


@pytest.mark.parametrize("junk", [None, [], "x", {"source": "x"}, {"source": {"etag": 1}}])
def test_junk_is_never_current(junk: Any) -> None:
    assert not is_current(junk, ETAG, {}, 5)
