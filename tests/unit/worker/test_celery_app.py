"""The delivery settings that only make sense together."""

from worker.celery_app import (
    RESTORE_INTERVAL,
    RETRY_BACKOFF_MAX,
    TASK_SOFT_TIME_LIMIT,
    TASK_TIME_LIMIT,
    VISIBILITY_TIMEOUT,
    make_celery,
)
from worker.config import Settings
from worker.tasks import _backoff


def test_a_live_worker_never_holds_a_message_past_the_visibility_timeout() -> None:
    """Longest legitimate hold: a retry countdown, then the hard limit (else tasks run twice)."""
    assert TASK_SOFT_TIME_LIMIT < TASK_TIME_LIMIT
    assert RETRY_BACKOFF_MAX + TASK_TIME_LIMIT < VISIBILITY_TIMEOUT
    assert max(_backoff(retries) for retries in range(10) for _ in range(50)) <= RETRY_BACKOFF_MAX


def test_a_dead_workers_message_comes_back_within_minutes() -> None:
    assert VISIBILITY_TIMEOUT + RESTORE_INTERVAL <= 5 * 60


def test_the_app_is_configured_for_at_least_once_delivery() -> None:
    conf = make_celery(Settings.from_env({})).conf
    assert conf.task_acks_late
    assert conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    options = conf.broker_transport_options
    assert options["visibility_timeout"] == VISIBILITY_TIMEOUT
    assert options["unacked_restore_interval"] == RESTORE_INTERVAL
    assert options["unacked_restore_throttle"] == 1


def test_the_visibility_timeout_is_a_setting() -> None:
    assert Settings().visibility_timeout_s == VISIBILITY_TIMEOUT
    app = make_celery(Settings(visibility_timeout_s=20))
    assert app.conf.broker_transport_options["visibility_timeout"] == 20


def test_the_time_limits_are_settings() -> None:
    conf = make_celery(Settings.from_env({})).conf
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (
        TASK_SOFT_TIME_LIMIT,
        TASK_TIME_LIMIT,
    )
    env = {"PALETTE_SOFT_TIME_LIMIT": "2", "PALETTE_TIME_LIMIT": "4"}
    conf = make_celery(Settings.from_env(env)).conf
    assert (conf.task_soft_time_limit, conf.task_time_limit) == (2, 4)


def test_a_pool_child_that_grew_past_its_memory_cap_is_replaced() -> None:
    """Celery counts KiB; the setting is MiB, and 0 turns it off."""
    settings = Settings.from_env({"PALETTE_MAX_MEMORY_PER_CHILD_MB": "300"})
    assert make_celery(settings).conf.worker_max_memory_per_child == 300 * 1024
    off = Settings.from_env({"PALETTE_MAX_MEMORY_PER_CHILD_MB": "0"})
    assert not make_celery(off).conf.worker_max_memory_per_child
