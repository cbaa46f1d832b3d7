"""The api_stub on a non-loopback address, asked from another (simulated) host.

A network namespace made by this test (``infra.netns``: bridge + veth, root needed) is
the other host; the api_stub listens on the bridge's address in the root namespace, so
every request crosses a real non-loopback link. Without the token the client routes
answer 401, with it 200; without ``PALETTE_API_TOKEN`` the api_stub refuses to start.
Skipped, with the reason, where namespaces are not permitted; always torn down.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from infra import netns
from infra.private_stack import free_port

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
