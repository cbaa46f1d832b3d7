"""The services on a non-loopback address, asked from another (simulated) host.

A network namespace made by this test (``infra.netns``: bridge + veth, root needed) is
the other host; the services listen on the bridge's address in the root namespace, so
every request crosses a real non-loopback link. The api_stub: without the token the
client routes answer 401, with it 200; without ``PALETTE_API_TOKEN`` it refuses to
start. ``palette stack up --bind``: the S3 port answers only signed requests, the
stack's Redis only its password, and SeaweedFS's master, volume and filer ports (HTTP
and gRPC: no credential there) do not answer at all.
Skipped, with the reason, where namespaces are not permitted; always torn down.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from infra import netns
from infra import stack as stack_mod
from infra.private_stack import free_port, private_environ, start
from infra.seaweed import GRPC_OFFSET
from infra.state import load
from tests.integration.helpers import port_answers

pytestmark = pytest.mark.integration

START_TIMEOUT_S = 30.0


def _require_netns() -> None:
    ok, why = netns.available()
    if not ok:
        pytest.skip(f"network namespaces not permitted here: {why}")


def _curl(host: netns.Host, url: str, *headers: str, method: str = "GET") -> int:
    """The HTTP status of one request sent from inside ``host``'s namespace."""
    command = ["ip", "netns", "exec", host.netns, "curl", "-s", "-o", "/dev/null"]
    command += ["-w", "%{http_code}", "-X", method, "--max-time", "10"]
    for header in headers:
        command += ["-H", header]
    if method == "POST":
        body = '{"filename": "a.png", "content_type": "image/png", "size": 10}'
        command += ["-H", "Content-Type: application/json", "--data", body]
    out = subprocess.run([*command, url], capture_output=True, text=True, timeout=20)
    return int(out.stdout or 0)


def _api_stub(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "api_stub"], env=env, stdout=fh, stderr=subprocess.STDOUT
        )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_beyond_loopback_the_client_routes_need_the_token(stack: Any, tmp_path: Path) -> None:
    _require_netns()
    token = stack.env["PALETTE_API_TOKEN"]
    with netns.network(tmp_path / "net", 1) as net:
        client = net.hosts[0]
        port = free_port()
        base = f"http://{net.address}:{port}"
        env = {**stack.env, "PALETTE_API_BIND": f"{net.address}:{port}", "PATH": "/usr/bin:/bin"}
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])

        refused = _api_stub(
            {k: v for k, v in env.items() if k != "PALETTE_API_TOKEN"}, tmp_path / "no-token.log"
        )
        assert refused.wait(timeout=START_TIMEOUT_S) == 2
        message = (tmp_path / "no-token.log").read_text()
        assert f"listening on {net.address} requires PALETTE_API_TOKEN" in message

        proc = _api_stub(env, tmp_path / "api.log")
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while _curl(client, base + "/healthz") not in {200, 503}:
                assert proc.poll() is None, (tmp_path / "api.log").read_text()
                assert time.monotonic() < deadline, "api_stub did not answer"
                time.sleep(0.3)
            auth = f"Authorization: Bearer {token}"
            wrong = "Authorization: Bearer not-the-token"
            for path, method, allowed in [
                ("/palettes", "GET", 200),
                ("/palettes/nope/a.png", "GET", 404),
                ("/bars/nope/a.png", "GET", 404),
                ("/files/bar/nope/a.png", "GET", 404),
                ("/metrics", "GET", 200),
                ("/uploads", "POST", 201),
            ]:
                assert _curl(client, base + path, method=method) == 401, path
                assert _curl(client, base + path, wrong, method=method) == 401, path
                assert _curl(client, base + path, auth, method=method) == allowed, path
            assert _curl(client, base + "/") == 200  # the page itself asks for the token
        finally:
            _stop(proc)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert client.netns not in listed  # torn down


def _curl_s3(host: netns.Host, url: str, *args: str) -> tuple[int, str]:
    """(status, body) of one S3 request from ``host``; ``args`` may sign it (SigV4)."""
    command = ["ip", "netns", "exec", host.netns, "curl", "-s", "--max-time", "10"]
    command += ["-w", "\\n%{http_code}", *args, url]
    out = subprocess.run(command, capture_output=True, text=True, timeout=20)
    body, _, code = out.stdout.rpartition("\n")
    return int(code or 0), body


def _connect_exit(host: netns.Host, address: str, port: int) -> int:
    """curl's exit code for a connection from ``host``: 7 = nothing listens there."""
    command = ["ip", "netns", "exec", host.netns, "curl", "-s", "-o", "/dev/null"]
    command += ["--max-time", "5", f"http://{address}:{port}/"]
    return subprocess.run(command, capture_output=True, timeout=20).returncode


def _redis_greeting(host: netns.Host, address: str, port: int) -> str:
    """What the stack's Redis answers a PING from ``host`` with no password."""
    code = (
        "import socket, sys; s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5);"
        "s.sendall(b'PING\\r\\n'); print(s.recv(200).decode())"
    )
    command = ["ip", "netns", "exec", host.netns, "python3", "-c", code, address, str(port)]
    return subprocess.run(command, capture_output=True, text=True, timeout=20).stdout


def test_bound_stack_answers_beyond_loopback_only_with_credentials(tmp_path: Path) -> None:
    """``palette stack up --bind ADDR``: what another host can reach, and with what."""
    _require_netns()
    with netns.network(tmp_path / "net", 1) as net:
        client, stack_dir = net.hosts[0], tmp_path / "stack"
        handle = start(stack_dir, private_environ(stack_dir), workers=0, bind=net.address)
        try:
            state = load(stack_dir)
            assert state is not None
            _assert_s3_needs_a_signature(client, handle.env)
            _assert_seaweedfs_internals_unreachable(client, net.address, state.ports)
            assert _listening(state.procs["seaweedfs"].pid) == {"127.0.0.1"}
            redis_port = int(handle.env["PALETTE_BROKER_URL"].rsplit(":", 1)[1].split("/")[0])
            assert _redis_greeting(client, net.address, redis_port).startswith("-NOAUTH")
            api = handle.env["PALETTE_API_URL"]
            assert _curl(client, api + "/palettes") == 401
        finally:
            stack_mod.down(stack_dir, purge=True)


def _assert_s3_needs_a_signature(client: netns.Host, env: dict[str, str]) -> None:
    s3 = env["PALETTE_S3_ENDPOINT"]
    bucket, key = env["PALETTE_INPUT_BUCKET"], "netns/probe.txt"
    obj = f"{s3}/{bucket}/{key}"
    region = env["AWS_DEFAULT_REGION"]
    sign = ["--aws-sigv4", f"aws:amz:{region}:s3", "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
    good = [*sign, "--user", f"{env['AWS_ACCESS_KEY_ID']}:{env['AWS_SECRET_ACCESS_KEY']}"]
    bad = [*sign, "--user", f"{env['AWS_ACCESS_KEY_ID']}:not-the-secret"]
    put = ["-X", "PUT", "--data-binary", "hello from another host"]
    assert _curl_s3(client, obj, *put)[0] == 403  # unsigned
    assert _curl_s3(client, obj, *put, *bad)[0] == 403
    assert _curl_s3(client, obj, *put, *good)[0] == 200
    assert _curl_s3(client, obj)[0] == 403
    assert _curl_s3(client, f"{s3}/{bucket}?list-type=2")[0] == 403
    assert _curl_s3(client, obj, *bad)[0] == 403
    assert _curl_s3(client, obj, *good) == (200, "hello from another host")
    listed = _curl_s3(client, f"{s3}/{bucket}?list-type=2", *good)
    assert listed[0] == 200
    assert f"<Key>{key}</Key>" in listed[1]


def _assert_seaweedfs_internals_unreachable(
    client: netns.Host, address: str, ports: dict[str, int]
) -> None:
    """Master, volume and filer answer on 127.0.0.1 (so the check means something) and
    refuse connections from the other host, HTTP and gRPC, S3's gRPC too."""
    for name in ("master", "volume", "filer"):
        assert port_answers(ports[name], "127.0.0.1"), f"{name} is not running on loopback"
        assert _connect_exit(client, address, ports[name]) == 7, name
        assert _connect_exit(client, address, ports[name] + GRPC_OFFSET) == 7, f"{name} gRPC"
    assert _connect_exit(client, address, ports["s3_grpc"]) == 7, "s3 gRPC (IAM updates)"


def _listening(pid: int) -> set[str]:
    """Every address the process listens on (all its ports, metrics and debug included)."""
    return {
        conn.laddr.ip
        for conn in psutil.net_connections(kind="inet")
        if conn.pid == pid and conn.status == psutil.CONN_LISTEN and conn.laddr
    }
