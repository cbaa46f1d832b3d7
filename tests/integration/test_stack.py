"""``palette stack`` on real processes: up, status, env, idempotent up, restart, down.

This module runs its own stack (the session ``stack`` fixture must survive it, and this
module ends with ``down``), using an existing Redis at 127.0.0.1:6379 (DB 12, flushed;
``PALETTE_TEST_STACK_REDIS`` picks another) when one answers, so the external-broker
path is covered too; otherwise the stack's own.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from infra import broker
from infra import stack as stack_mod
from infra.private_stack import private_environ
from infra.processes import (
    Proc,
    StackError,
    group_members,
    is_alive,
    running,
    wait_until,
)
from infra.state import load
from tests.integration.conftest import UP_TIMEOUT, free_port, stack_environ
from tests.integration.helpers import flush_redis, port_answers
from worker.cli import main as cli_main
from worker.config import Settings
from worker.storage import s3_client

pytestmark = pytest.mark.integration

EXTERNAL_BROKER = os.environ.get("PALETTE_TEST_STACK_REDIS", "redis://127.0.0.1:6379/12")
CLIENT_VARIABLES = {
    "PALETTE_S3_ENDPOINT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
    "PALETTE_INPUT_BUCKET",
    "PALETTE_OUTPUT_BUCKET",
    "PALETTE_BROKER_URL",
    "PALETTE_API_URL",
    "PALETTE_WEBHOOK_TOKEN",
    "PALETTE_API_TOKEN",
}


class Lifecycle:
    """This module's stack and what ``up`` printed while starting it."""

    def __init__(self, stack_dir: Path, environ: dict[str, str], external: bool) -> None:
        self.stack_dir = stack_dir
        self.environ = environ
        self.external = external
        self.report: list[str] = []

    def up(self) -> float:
        started = time.monotonic()
        stack_mod.up(
            self.stack_dir, environ=self.environ, timeout=UP_TIMEOUT, report=self.report.append
        )
        return time.monotonic() - started

    def procs(self) -> dict[str, Proc]:
        state = load(self.stack_dir)
        assert state is not None
        return dict(state.procs)


@pytest.fixture(scope="module")
def lifecycle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lifecycle]:
    stack_dir = tmp_path_factory.mktemp("lifecycle")
    external = broker.ping(EXTERNAL_BROKER)
    url = EXTERNAL_BROKER if external else f"redis://127.0.0.1:{free_port()}/0"
    if external:
        flush_redis(url)
    life = Lifecycle(stack_dir, stack_environ(stack_dir, url), external)
    try:
        life.up()
        yield life
    finally:
        stack_mod.down(stack_dir)
        if external:
            flush_redis(url)


def test_status_shows_every_component_healthy(lifecycle: Lifecycle) -> None:
    rows = stack_mod.status(lifecycle.stack_dir)
    assert [row.name for row in rows] == ["redis", "seaweedfs", "api_stub", "worker", "queue"]
    assert all(row.healthy for row in rows), rows
    assert rows[-1].detail == "0 waiting, 0 dead-lettered"
    rows = rows[:-1]
    redis_row = rows[0]
    if lifecycle.external:
        assert (redis_row.health, redis_row.pid) == ("unmanaged", None)
    else:
        assert redis_row.health == "up"
        assert redis_row.pid
    assert all(row.pid for row in rows[1:])


def test_env_is_the_client_contract(
    lifecycle: Lifecycle, capsys: pytest.CaptureFixture[str]
) -> None:
    env = stack_mod.env(lifecycle.stack_dir)
    assert set(env) == CLIENT_VARIABLES
    settings = Settings.from_env(env)
    assert settings.s3_endpoint == f"http://127.0.0.1:{lifecycle.environ['PALETTE_STACK_S3_PORT']}"
    assert settings.api_url == f"http://127.0.0.1:{lifecycle.environ['PALETTE_STACK_API_PORT']}"
    given = lifecycle.environ["PALETTE_BROKER_URL"]
    state = load(lifecycle.stack_dir)
    assert state is not None
    ours = broker.with_password(given, state.redis_password)  # a Redis we start has one
    assert settings.broker_url == (given if lifecycle.external else ours)
    assert (settings.input_bucket, settings.output_bucket) == ("images", "palettes")

    assert cli_main(["stack", "--dir", str(lifecycle.stack_dir), "env"]) == 0
    lines = capsys.readouterr().out.splitlines()
    exported = dict(shlex.split(line)[1].split("=", 1) for line in lines)
    assert all(line.startswith("export ") for line in lines)
    assert exported == env


def test_secrets_stay_in_the_0600_state_file(lifecycle: Lifecycle) -> None:
    state_file = lifecycle.stack_dir / "stack.json"
    assert stat.S_IMODE(state_file.stat().st_mode) == 0o600
    env = stack_mod.env(lifecycle.stack_dir)
    secrets = (env["AWS_SECRET_ACCESS_KEY"], env["PALETTE_WEBHOOK_TOKEN"], env["PALETTE_API_TOKEN"])
    printed = "\n".join(lifecycle.report)
    log_files = [p for p in (lifecycle.stack_dir / "logs").rglob("*") if p.is_file()]
    logs = "".join(p.read_text(errors="replace") for p in log_files)
    for secret in secrets:
        assert secret not in printed
        assert secret not in logs


def test_buckets_exist_and_accept_the_generated_credentials(lifecycle: Lifecycle) -> None:
    s3 = s3_client(Settings.from_env(stack_mod.env(lifecycle.stack_dir)))
    try:
        names = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    finally:
        s3.close()
    assert {"images", "palettes"} <= names


def test_up_again_reuses_every_process(lifecycle: Lifecycle) -> None:
    before = lifecycle.procs()
    secrets_before = stack_mod.env(lifecycle.stack_dir)
    elapsed = lifecycle.up()
    assert lifecycle.procs() == before
    assert stack_mod.env(lifecycle.stack_dir) == secrets_before
    assert elapsed < 5


def test_up_restarts_a_component_that_died(lifecycle: Lifecycle) -> None:
    old = lifecycle.procs()["api_stub"]
    os.kill(old.pid, signal.SIGKILL)
    assert _wait_gone(old)
    assert cli_main(["stack", "--dir", str(lifecycle.stack_dir), "status"]) == 1

    lifecycle.up()
    new = lifecycle.procs()["api_stub"]
    assert new != old
    assert is_alive(new)
    assert all(row.healthy for row in stack_mod.status(lifecycle.stack_dir))


def test_a_port_in_use_is_one_clear_error(
    lifecycle: Lifecycle, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        environ = stack_environ(tmp_path, lifecycle.environ["PALETTE_BROKER_URL"])
        environ["PALETTE_STACK_API_PORT"] = str(port)
        with pytest.raises(StackError, match=rf"port {port} \(api_stub\).*PALETTE_STACK_API_PORT"):
            stack_mod.up(tmp_path, environ=environ, timeout=10)
        state = load(tmp_path)
        assert state is not None
        assert state.procs == {}, "nothing may start"


def test_down_stops_every_process_and_keeps_the_data(lifecycle: Lifecycle) -> None:
    procs = lifecycle.procs()
    assert procs
    stack_mod.down(lifecycle.stack_dir)

    for name, proc in procs.items():
        assert not is_alive(proc), name
        assert not running(proc.pid), f"{name}: gone or a zombie"
        assert group_members(proc.pid) == [], f"{name} left children behind"
    assert not list((lifecycle.stack_dir / "run").glob("*.pid"))
    rows = {row.name: row for row in stack_mod.status(lifecycle.stack_dir)}
    rows.pop("queue")  # the queue lives in Redis, which may be external and still up
    if lifecycle.external:
        assert rows.pop("redis").health == "unmanaged", "an external Redis is never stopped"
    assert {row.health for row in rows.values()} == {"down"}
    assert any((lifecycle.stack_dir / "seaweedfs").iterdir()), "data is kept without --purge"


def test_the_session_stack_fixture_serves_clients(stack: Any) -> None:
    names = {bucket["Name"] for bucket in stack.s3.list_buckets()["Buckets"]}
    assert {stack.settings.input_bucket, stack.settings.output_bucket} <= names
    assert set(stack.env) == CLIENT_VARIABLES
    assert stack.api_url == stack.settings.api_url
    assert all(row.healthy for row in stack.status())


def _wait_gone(proc: Proc, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while is_alive(proc):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


BIND = "127.0.0.2"
"""Loopback, yet not 127.0.0.1: a URL or listener left on 127.0.0.1 shows up. Beyond
loopback (a bridge address other hosts reach) is tests/integration/test_cluster.py."""


def test_bind_puts_every_service_and_url_on_the_address_and_runs_no_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``palette stack up --bind ADDR --workers 0``: services and the one beat only."""
    stack_dir = tmp_path / "bound"
    environ = private_environ(stack_dir, settings={"PALETTE_SWEEP_INTERVAL": "60"})
    args = ["stack", "--dir", str(stack_dir), "up", "--bind", BIND, "--workers", "0"]
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(os, "environ", environ)
            assert cli_main([*args, "--timeout", str(UP_TIMEOUT)]) == 0, capsys.readouterr()
        env = stack_mod.env(stack_dir)
        rows = stack_mod.status(stack_dir)
        state = load(stack_dir)
        assert state is not None
        beat_log = state.log_path("beat")
        assert wait_until(lambda: "start-up sweep sent" in beat_log.read_text(), timeout=30)
    finally:
        stack_mod.down(stack_dir, purge=True)
    names = ["redis", "seaweedfs", "s3_relay", "api_stub", "beat", "queue"]
    assert [row.name for row in rows] == names
    assert all(row.healthy for row in rows), rows
    for name in ("PALETTE_S3_ENDPOINT", "PALETTE_API_URL", "PALETTE_BROKER_URL"):
        assert urlsplit(env[name]).hostname == BIND, name
    redis_port, api_port = urlsplit(env["PALETTE_BROKER_URL"]).port, state.ports["api"]
    assert redis_port
    for port in (redis_port, api_port, state.ports["s3"]):
        assert not port_answers(port, "127.0.0.1"), f"{port} must listen on {BIND} only"
    assert broker.url_password(env["PALETTE_BROKER_URL"]) == state.redis_password
    assert "worker" not in state.procs


def test_bound_redis_requires_its_password(tmp_path: Path) -> None:
    stack_dir = tmp_path / "pw"
    environ = private_environ(stack_dir)
    try:
        stack_mod.up(stack_dir, workers=0, beat=False, bind=BIND, environ=environ, timeout=60)
        url = stack_mod.env(stack_dir)["PALETTE_BROKER_URL"]
        with_password, without = broker.ping(url), broker.ping(_without_password(url))
    finally:
        stack_mod.down(stack_dir, purge=True)
    assert (with_password, without) == (True, False)


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


def test_cli_without_a_stack_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["stack", "--dir", str(tmp_path / "none"), "env"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("palette stack: no stack in")
    assert "\n" not in err
    assert cli_main(["stack", "--dir", str(tmp_path / "none"), "status"]) == 1
