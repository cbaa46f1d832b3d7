"""Secrets on the real stack: the Redis it starts has a password, and nothing prints it."""

from __future__ import annotations

import pytest
import redis

from infra.state import load
from tests.integration.conftest import Stack
from worker.cli import main as cli_main

pytestmark = pytest.mark.integration


def _password(stack: Stack) -> str:
    state = load(stack.stack_dir)
    assert state is not None
    return state.redis_password


def test_the_stacks_redis_requires_its_password(stack: Stack) -> None:
    url = stack.settings.broker_url
    if not stack.proc("redis"):
        pytest.skip("the session uses an external Redis (PALETTE_TEST_BROKER_URL)")
    password = _password(stack)
    assert f":{password}@" in url
    anonymous = redis.Redis.from_url(url.replace(f":{password}@", ""), socket_timeout=5)
    with pytest.raises(redis.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    assert redis.Redis.from_url(url, socket_timeout=5).ping()


def test_status_names_the_redis_binary_and_shows_no_secret(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = {row.name: row for row in stack.status()}
    assert rows["redis"].detail.startswith("Redis ")
    assert "redis-server" in rows["redis"].detail
    assert cli_main(["stack", "--dir", str(stack.stack_dir), "status"]) in {0, 1}
    printed = capsys.readouterr().out
    assert "redis-server" in printed
    assert _password(stack) not in printed
    assert ":***@" in printed or not stack.proc("redis")


def test_no_log_holds_the_redis_password(stack: Stack) -> None:
    password = _password(stack)
    logs = sorted((stack.stack_dir / "logs").glob("*.log"))
    assert {path.stem for path in logs} >= {"api_stub", "worker"}
    for path in logs:
        assert password not in path.read_text(errors="replace"), path.name
