"""The pure retry rules (issue 9 item 4): which failures are tried again, when, how often."""

from datetime import UTC, datetime
from typing import Any

import pytest

from worker.retries import RetryPolicy, attempts, due, is_final_failure, next_attempts

STORED_AT = "2026-12-02T04:00:00.000000Z"
T0 = datetime(2026, 12, 2, 4, 0, tzinfo=UTC).timestamp()
POLICY = RetryPolicy(after_s=60.0, attempts=3)


def failed(
    code: str = "timeout", retryable: bool = True, tries: int = 1, **more: Any
) -> dict[str, Any]:
    error = {"code": code, "message": "m", "retryable": retryable, "attempts": tries}
    return {
        "status": "failed",
        "source": {"etag": "e1"},
        "error": error,
        "created_at": STORED_AT,
        **more,
    }


def test_a_retryable_failure_is_due_after_its_back_off_doubled_per_attempt() -> None:
    assert not due(failed(), T0 + 59, POLICY)
    assert due(failed(), T0 + 60, POLICY)
    assert not due(failed(tries=2), T0 + 119, POLICY)
    assert due(failed(tries=2), T0 + 120, POLICY)


def test_retries_are_bounded_then_the_failure_stays() -> None:
    assert not due(failed(tries=3), T0 + 10**9, POLICY)
    assert due(failed(tries=2), T0 + 10**9, RetryPolicy(60.0, attempts=3))
    assert not due(failed(tries=1), T0 + 10**9, RetryPolicy(60.0, attempts=1))


@pytest.mark.parametrize("code", ["not_an_image", "corrupt_image", "too_large", "internal_error"])
def test_an_input_at_fault_is_never_due_and_is_final(code: str) -> None:
    doc = failed(code, retryable=False)
    assert not due(doc, T0 + 10**9, POLICY)
    assert is_final_failure(doc)


def test_a_done_result_or_a_retryable_failure_is_not_final() -> None:
    assert not is_final_failure({"status": "done"})
    assert not is_final_failure(failed())
    assert not is_final_failure(None)
    assert not due({"status": "done", "created_at": STORED_AT}, T0 + 10**9, POLICY)


def test_a_failure_stored_before_the_field_existed_counts_as_one_and_is_final() -> None:
    """Results of earlier versions are stale anyway (another worker version); read safely."""
    old = {"status": "failed", "error": {"code": "timeout", "message": "m"}}
    assert attempts(old) == 1
    assert is_final_failure(old)
    assert not due(old, T0, POLICY)


def test_an_unreadable_time_makes_a_retryable_failure_due() -> None:
    assert due(failed(created_at="yesterday"), T0, POLICY)


def test_attempts_count_failures_of_the_same_version_only() -> None:
    assert next_attempts(None, "e1") == 1
    assert next_attempts(failed(tries=2), "e1") == 3
    assert next_attempts(failed(tries=2), '"e1"') == 3  # quoted, as in HTTP headers
    assert next_attempts(failed(tries=2), "e2") == 1  # a new upload starts again
    assert next_attempts({"status": "done", "source": {"etag": "e1"}}, "e1") == 1
    assert next_attempts(failed(tries=2), None) == 1
