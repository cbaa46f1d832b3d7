import pytest

from worker.config import Settings, documented
from worker.errors import InvalidOptions


def test_defaults_match_the_documented_contract() -> None:
    settings = Settings.from_env({})
    assert settings.input_bucket == "images"
    assert settings.output_bucket == "palettes"
    assert settings.broker_url == "redis://127.0.0.1:6379/0"
    assert settings.default_k == 5
    assert settings.s3_endpoint is None  # unset means AWS


def test_environment_overrides_and_parses_numbers() -> None:
    settings = Settings.from_env(
        {"PALETTE_DEFAULT_K": "8", "PALETTE_MAX_BYTES": "1000", "PALETTE_S3_ENDPOINT": "http://x"}
    )
    assert (settings.default_k, settings.max_bytes, settings.s3_endpoint) == (8, 1000, "http://x")


def test_empty_string_counts_as_unset() -> None:
    assert Settings.from_env({"PALETTE_INPUT_BUCKET": ""}).input_bucket == "images"


@pytest.mark.parametrize(
    "env",
    [
        {"PALETTE_DEFAULT_K": "0"},
        {"PALETTE_DEFAULT_K": "many"},
        {"PALETTE_MAX_BYTES": "-1"},
        {"PALETTE_OUTPUT_BUCKET": "images"},
        {"PALETTE_DECODE_BUDGET_MB": "0"},
        {"PALETTE_MAX_MEMORY_PER_CHILD_MB": "-1"},
        {"PALETTE_SOFT_TIME_LIMIT": "0"},
        {"PALETTE_SOFT_TIME_LIMIT": "90"},  # not below the hard limit (90)
        {"PALETTE_TIME_LIMIT": "30"},  # below the soft limit (60)
        {"PALETTE_VISIBILITY_TIMEOUT": "94"},  # under the hard limit (90) + 5 s
        {"PALETTE_TIME_LIMIT": "200"},  # over the visibility timeout (180) less 5 s
    ],
)
def test_nonsense_fails_at_start_up(env: dict[str, str]) -> None:
    with pytest.raises(InvalidOptions):
        Settings.from_env(env)


def test_repr_never_shows_secrets() -> None:
    settings = Settings.from_env(
        {
            "AWS_SECRET_ACCESS_KEY": "hunter2",
            "PALETTE_WEBHOOK_TOKEN": "tok-123",
            "PALETTE_BROKER_URL": "redis://:redis-pw@redis:6379/0",
        }
    )
    assert "hunter2" not in repr(settings)
    assert "tok-123" not in repr(settings)
    assert "redis-pw" not in repr(settings)
    assert "redis://:***@redis:6379/0" in repr(settings)


def test_every_setting_is_documented() -> None:
    rows = documented()
    assert {row[0] for row in rows} >= {
        "PALETTE_S3_ENDPOINT",
        "PALETTE_INPUT_BUCKET",
        "PALETTE_OUTPUT_BUCKET",
        "PALETTE_BROKER_URL",
        "PALETTE_WEBHOOK_TOKEN",
        "PALETTE_DEFAULT_K",
        "PALETTE_MAX_BYTES",
        "PALETTE_MAX_PIXELS",
    }
    assert all(row[2] for row in rows)


def test_time_limits_are_settings_checked_against_the_visibility_timeout() -> None:
    """Short limits for a test stack, as long as Redis redelivers only after the kill."""
    short = {"PALETTE_SOFT_TIME_LIMIT": "2", "PALETTE_TIME_LIMIT": "4"}
    settings = Settings.from_env({**short, "PALETTE_VISIBILITY_TIMEOUT": "9"})
    assert (settings.soft_time_limit_s, settings.time_limit_s) == (2.0, 4.0)
    with pytest.raises(InvalidOptions, match="PALETTE_TIME_LIMIT"):
        Settings.from_env({**short, "PALETTE_VISIBILITY_TIMEOUT": "8.9"})
