"""The native stack's parts without starting the stack: config files, commands, state,
liveness, ports. The real processes are exercised in tests/integration/test_stack.py."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from infra import broker, components, seaweed, stack
from infra.processes import (
    Proc,
    group_members,
    is_alive,
    log_tail,
    pick_port_pair,
    port_free,
    spawn,
    started,
    stop_all,
    wait_until,
)
from infra.state import StackState, default_stack_dir, load, new_state, prepare_dir
from worker.cli import main as cli_main


def make_state(tmp_path: Path) -> StackState:
    state = new_state(tmp_path, {})
    state.broker_url = "redis://127.0.0.1:6379/0"
    state.ports = {"s3": 8333, "api": 8080}
    for i, name in enumerate(seaweed.WEED_PORTS):
        state.ports.setdefault(name, 15000 + i)
        state.ports[name + "_grpc"] = state.ports[name] + 10000
    return state


def test_notification_toml_filters_to_the_input_bucket() -> None:
    text = seaweed.notification_toml(
        endpoint="http://127.0.0.1:8080/events", token='a"b', input_bucket="images"
    )
    hook = tomllib.loads(text)["notification"]["webhook"]
    assert hook == {
        "enabled": True,
        "endpoint": "http://127.0.0.1:8080/events",
        "bearer_token": 'a"b',
        "path_prefixes": ["/buckets/images/"],
    }


def test_notification_toml_is_private(tmp_path: Path) -> None:
    seaweed.write_config_dir(tmp_path, endpoint="http://x/events", token="t", input_bucket="i")
    assert stat.S_IMODE((tmp_path / "notification.toml").stat().st_mode) == 0o600


def test_weed_command_sets_every_port_and_its_grpc_twin(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    args = seaweed.command(tmp_path / "data", state.ports, tmp_path / "run", tmp_path / "log")
    assert args[1:3] == [f"-logdir={tmp_path / 'log'}", "mini"]
    assert f"-s3.localSocket={tmp_path / 'run' / 'weed-s3.sock'}" in args
    assert f"-dir={tmp_path / 'data'}" in args
    for name in seaweed.WEED_PORTS:
        port = state.ports[name]
        assert f"-{name}.port={port}" in args
        assert f"-{name}.port.grpc={port + 10000}" in args
    assert {"-webdav=false", "-admin.ui=false", "-ip.bind=127.0.0.1"} <= set(args)


def test_state_round_trips_and_is_written_0600(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    state.procs["worker"] = Proc(123, 456)
    state.save()
    assert stat.S_IMODE((tmp_path / "stack.json").stat().st_mode) == 0o600
    again = load(tmp_path)
    assert again is not None
    assert again.to_json() == state.to_json()
    assert load(tmp_path / "elsewhere") is None


def test_new_state_generates_distinct_secrets_unless_chosen(tmp_path: Path) -> None:
    one, two = new_state(tmp_path, {}), new_state(tmp_path, {})
    assert one.secret_key != two.secret_key
    assert one.webhook_token != two.webhook_token
    assert len(one.webhook_token) >= 32
    chosen = new_state(
        tmp_path, {"PALETTE_STACK_ACCESS_KEY": "ak", "PALETTE_STACK_SECRET_KEY": "sk"}
    )
    assert (chosen.access_key, chosen.secret_key) == ("ak", "sk")


def test_default_stack_dir(tmp_path: Path) -> None:
    assert default_stack_dir({"PALETTE_STACK_DIR": str(tmp_path)}) == tmp_path.resolve()
    xdg = default_stack_dir({"XDG_STATE_HOME": str(tmp_path)})
    assert xdg == tmp_path.resolve() / "palette-worker"
    assert default_stack_dir({}).parts[-3:] == (".local", "state", "palette-worker")


def test_process_env_carries_the_contract_and_drops_foreign_aws(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    base = {"PATH": "/bin", "AWS_SESSION_TOKEN": "real-aws", "AWS_PROFILE": "prod"}
    env = components.process_env(state, base)
    assert env.items() >= state.client_env().items()
    assert env["PALETTE_API_BIND"] == "127.0.0.1:8080"
    assert "AWS_SESSION_TOKEN" not in env
    assert "AWS_PROFILE" not in env
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(components.PROJECT_ROOT)


def test_redis_is_managed_only_when_ours(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    assert [c.name for c in components.managed(state)] == ["seaweedfs", "api_stub", "worker"]
    state.broker_managed = True
    assert components.managed(state)[0].name == "redis"


def test_worker_readiness_is_read_from_this_start_log(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    assert not components.logged_ready(log)
    log.write_text("celery@host starting\nalready connected\n")
    assert not components.logged_ready(log)
    log.write_text("INFO celery.apps.worker: celery@host ready.\n")
    assert components.logged_ready(log)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://user:hunter2@h/1", "redis://user:***@h/1"),
    ],
)
def test_broker_urls_are_printed_without_password(tmp_path: Path, url: str, shown: str) -> None:
    """What ``palette stack status`` shows as Redis's endpoint."""
    state = make_state(tmp_path)
    state.broker_url = url
    assert components.REDIS.endpoint(state) == shown


def test_only_a_local_broker_can_be_started() -> None:
    assert broker.can_host("redis://127.0.0.1:6390/0")
    assert broker.can_host("redis://localhost/0")
    assert not broker.can_host("redis://redis.example:6379/0")
    assert broker.url_port("redis://127.0.0.1/0") == 6379


def test_liveness_checks_the_start_time_not_just_the_pid() -> None:
    me = Proc(os.getpid(), started(os.getpid()) or 0)
    assert is_alive(me)
    assert not is_alive(Proc(me.pid, me.started + 5)), "a reused pid is not our process"
    assert not is_alive(None)


def test_a_zombie_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    since = started(child.pid)
    assert since is not None
    proc = Proc(child.pid, since)
    try:
        # it exits at once but stays a zombie until waited for
        assert wait_until(lambda: not is_alive(proc), timeout=10)
        assert Path(f"/proc/{child.pid}").exists(), "still a zombie, not yet reaped"
    finally:
        child.wait()


SLEEPER = """
import signal, subprocess, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stubborn component: only SIGKILL works
subprocess.Popen(["sleep", "60"])
print("ready", flush=True)
time.sleep(60)
"""


def test_spawn_detaches_and_stop_all_ends_the_whole_group(tmp_path: Path) -> None:
    log = tmp_path / "sleeper.log"
    proc = spawn([sys.executable, "-c", SLEEPER], cwd=tmp_path, log_path=log, env=dict(os.environ))
    try:
        assert is_alive(proc)
        assert os.getsid(proc.pid) == proc.pid, "own session"
        assert wait_until(lambda: "ready" in log_tail(log), timeout=10)
        assert len(group_members(proc.pid)) == 2
    finally:
        stop_all([proc], timeout=0.5)
    assert not is_alive(proc)
    assert group_members(proc.pid) == []


def test_ports(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        assert not port_free(busy)
    assert not port_free(0)
    assert not port_free(70000)
    port = pick_port_pair(set())
    assert port_free(port)
    assert port_free(port + 10000)


def test_a_component_that_dies_fails_up_with_its_log_tail(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    prepare_dir(tmp_path)
    crasher = components.Component(
        name="crasher",
        command=lambda s: [sys.executable, "-c", "print('boom: bad config'); raise SystemExit(3)"],
        endpoint=lambda s: "-",
        healthy=lambda s: False,
        ready=lambda s: False,
        cwd=lambda s: s.stack_dir,
    )
    stack._ensure_running(state, crasher, dict(os.environ), report=lambda line: None)
    with pytest.raises(stack.StackUnhealthy, match="crasher exited during start-up") as info:
        stack._await(state, crasher, deadline=time.monotonic() + 10)
    assert "boom: bad config" in info.value.tail


def test_invalid_settings_are_one_line_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PALETTE_DEFAULT_K", "99")
    monkeypatch.setenv("PALETTE_BROKER_URL", "redis://redis.invalid:6379/0")
    assert cli_main(["stack", "--dir", str(tmp_path), "up", "--timeout", "1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("palette stack: invalid settings: PALETTE_DEFAULT_K")
    assert "\n" not in err


def test_bind_moves_every_service_and_url(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    state.bind = "10.77.0.1"
    env = state.client_env()
    assert env["PALETTE_S3_ENDPOINT"] == "http://10.77.0.1:8333"
    assert env["PALETTE_API_URL"] == "http://10.77.0.1:8080"
    assert env["PALETTE_API_TOKEN"] == state.api_token
    assert components.process_env(state, {})["PALETTE_API_BIND"] == "10.77.0.1:8080"
    state.save()
    reloaded = load(tmp_path)
    assert reloaded is not None
    assert (reloaded.bind, reloaded.api_token) == ("10.77.0.1", state.api_token)


def test_no_local_worker_leaves_the_one_beat_on_its_own(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    state.workers, state.beat = 0, True
    assert [c.name for c in components.managed(state)] == ["seaweedfs", "api_stub", "beat"]
    state.beat = False
    assert [c.name for c in components.managed(state)] == ["seaweedfs", "api_stub"]


def test_beat_readiness_is_its_starting_line(tmp_path: Path) -> None:
    state = make_state(tmp_path)
    prepare_dir(tmp_path)
    state.procs["beat"] = Proc(os.getpid(), started(os.getpid()) or 0)
    state.log_path("beat").write_text("INFO celery.beat: beat: Starting...\n")
    assert components.BEAT.ready(state)


@pytest.mark.parametrize(
    ("address", "complaint"),
    [
        ("0.0.0.0", "names no address"),
        ("example.org", "IPv4 address"),
        ("::1", "IPv4 address"),
        ("192.0.2.77", "not an address of this host"),  # TEST-NET-1: never ours
    ],
)
def test_bind_wants_an_address_of_this_host(address: str, complaint: str) -> None:
    with pytest.raises(stack.StackError, match=complaint):
        stack.check_bind(address)
    assert stack.check_bind("127.0.0.1") == "127.0.0.1"


def test_up_refuses_a_negative_worker_count(tmp_path: Path) -> None:
    with pytest.raises(stack.StackError, match="0 or more"):
        stack.up(tmp_path, workers=-1, environ={})


def test_seaweedfs_stays_on_loopback_and_only_the_s3_relay_moves_to_bind(tmp_path: Path) -> None:
    """Master, volume and filer (HTTP and gRPC) answer without a credential: beyond
    loopback only the S3 gateway, through the relay, is reachable."""
    state = make_state(tmp_path)
    state.ports[seaweed.WEED_METRICS] = 15200
    command = seaweed.command(tmp_path, state.ports, tmp_path, tmp_path)
    assert {"-ip=127.0.0.1", "-ip.bind=127.0.0.1"} <= set(command)
    assert {"-metricsPort=15200", "-metricsIp=127.0.0.1"} <= set(command)
    assert seaweed.metrics_url(state.ports) == "http://127.0.0.1:15200/metrics"
    assert [c.name for c in components.managed(state)] == ["seaweedfs", "api_stub", "worker"]
    state.bind, state.ports["weed_s3"] = "10.77.0.1", 15100
    weed = components.SEAWEEDFS.command(state)
    assert {"-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3.port=15100"} <= set(weed)
    assert not [arg for arg in weed if "10.77.0.1" in arg]
    names = [c.name for c in components.managed(state)]
    assert names == ["seaweedfs", "s3_relay", "api_stub", "worker"]
    relay = components.managed(state)[1]
    assert relay.command(state)[-2:] == ["10.77.0.1:8333", "127.0.0.1:15100"]
    assert (relay.host(state), components.SEAWEEDFS.host(state)) == ("10.77.0.1", "127.0.0.1")


def test_a_seaweedfs_an_older_version_bound_beyond_loopback_is_not_reused(
    tmp_path: Path,
) -> None:
    """Before the relay, ``--bind`` put master, volume and filer on ADDR: such a running
    SeaweedFS must be restarted, not adopted (its filer answers anyone)."""
    state = make_state(tmp_path)
    state.procs["seaweedfs"] = Proc(os.getpid(), started(os.getpid()) or 0)
    stack.refuse_exposed_seaweedfs(state)  # on loopback: nothing exposed
    state.bind = "10.77.0.1"
    with pytest.raises(stack.StackError, match=r"older palette and listens on 10\.77\.0\.1"):
        stack.refuse_exposed_seaweedfs(state)
    state.ports["weed_s3"] = 15100  # started by this version: on loopback behind the relay
    stack.refuse_exposed_seaweedfs(state)
