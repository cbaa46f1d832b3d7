"""The README's "Using it from a web app" snippets, run as they stand on the real stack.

Each fenced block after a ``<!-- snippet: NAME -->`` marker is extracted verbatim: the
Python upload-and-wait runs in a fresh interpreter with ``palette stack env``'s variables,
the JavaScript in node (v18+, for ``fetch``) while the image is still being processed,
and the callback receiver under uvicorn, where it gets real signed POSTs from the
worker's own sender (``worker.callbacks.post``). Without node the JavaScript test is
skipped, except in CI, where a missing node is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.conftest import free_port
from tests.integration.helpers import upload, wait_until
from worker.callbacks import CallbackFailed, http_client, post
from worker.signing import sign

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PHOTO = ROOT / "docs" / "samples" / "coffee.jpg"
RUN_TIMEOUT_S = 150.0
RECEIVER_SECRET = "readme-receiver-secret-0123456789"


def snippet(name: str) -> str:
    """The fenced code block right after ``<!-- snippet: name -->``; exactly one."""
    pattern = rf"<!-- snippet: {re.escape(name)} -->\n```[a-z]+\n(.*?)\n```"
    found = re.findall(pattern, README, flags=re.DOTALL)
    assert len(found) == 1, f"README has {len(found)} snippet(s) named {name!r}"
    return str(found[0])


def client_environ(stack: Any, **extra: str) -> dict[str, str]:
    """This process's environment less any stack's, plus the test stack's client env."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PALETTE_", "AWS_"))}
    return base | stack.env | extra


def stored(stack: Any, key: str) -> dict[str, Any]:
    body = stack.s3.get_object(Bucket="palettes", Key=key + ".json")["Body"].read()
    return dict(json.loads(body))


def summary(doc: dict[str, Any]) -> tuple[str, int, list[str]]:
    return doc["status"], doc["quality"]["k_returned"], [c["hex"] for c in doc["colors"]]


def test_python_upload_then_long_poll(stack: Any, tmp_path: Path) -> None:
    shutil.copy(PHOTO, tmp_path / "photo.jpg")
    run = subprocess.run(
        [sys.executable, "-c", snippet("python-upload-and-wait")],
        cwd=tmp_path,
        env=client_environ(stack),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr
    doc = stored(stack, "cats/photo.jpg")
    status, k_returned, hexes = summary(doc)
    assert run.stdout.strip() == f"{status} {k_returned} {hexes}"
    assert status == "done"
    assert doc["quality"]["k_requested"] == "auto"  # the metadata the snippet sent
    assert doc["source"]["etag"] == stack.s3.head_object(Bucket="images", Key="cats/photo.jpg")[
        "ETag"
    ].strip('"')


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("node (v18+) is missing", pytrace=False)
        pytest.skip("node (v18+) is missing")
    return node


def test_javascript_long_poll(stack: Any) -> None:
    """Started right after the upload, so it normally waits on the long-poll; the
    answer it prints must be the stored result of this very upload."""
    node = _node()
    code = snippet("javascript-wait")
    for literal in ('"http://127.0.0.1:8080"', '"cats/photo.jpg"'):
        assert literal in code, literal
    key = "web app/JS ü.jpg"
    code = code.replace('"http://127.0.0.1:8080"', json.dumps(stack.api_url))
    code = code.replace('"cats/photo.jpg"', json.dumps(key))
    etag = upload(stack.s3, key, PHOTO.read_bytes())
    run = subprocess.run(
        [node, "--input-type=module", "-e", code],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr
    doc = stored(stack, key)
    assert doc["source"]["etag"] == etag
    status, _, hexes = summary(doc)
    assert run.stdout.strip() == f"{status} {' '.join(hexes)}"


def test_javascript_long_poll_reports_a_missing_image(stack: Any) -> None:
    node = _node()
    code = snippet("javascript-wait")
    code = code.replace('"http://127.0.0.1:8080"', json.dumps(stack.api_url))
    code = code.replace('"cats/photo.jpg"', json.dumps("web app/never uploaded.jpg"))
    run = subprocess.run(
        [node, "--input-type=module", "-e", code],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert run.returncode != 0
    assert "404 not_found for web app/never uploaded.jpg" in run.stderr


class Receiver:
    """The README's receiver under uvicorn, in a process of its own."""

    def __init__(self, tmp_path: Path) -> None:
        (tmp_path / "receiver.py").write_text(snippet("python-callback-receiver") + "\n")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/palette-hook"
        self.log = tmp_path / "receiver.log"
        command = [sys.executable, "-m", "uvicorn", "receiver:app", "--port", str(self.port)]
        command += ["--host", "127.0.0.1", "--no-access-log"]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PALETTE_")}
        environ["PALETTE_CALLBACK_SECRET"] = RECEIVER_SECRET
        environ["PYTHONPATH"] = os.pathsep.join([str(ROOT), environ.get("PYTHONPATH", "")])
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=tmp_path, env=environ, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self) -> None:
        def answers() -> bool:
            assert self.proc.poll() is None, self.output()
            try:
                httpx.get(self.url, timeout=1)
            except httpx.HTTPError:
                return False
            return True

        assert wait_until(answers, timeout=30), self.output()

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[Receiver]:
    started = Receiver(tmp_path)
    try:
        started.wait_ready()
        yield started
    finally:
        started.stop()


def test_callback_receiver_accepts_a_signed_result_once(stack: Any, receiver: Receiver) -> None:
    """A real stored result, POSTed signed by the worker's own sender: 204 and handled;
    the same delivery again (a retry) is 204 and not handled twice."""
    key = "web app/callback.jpg"
    etag = upload(stack.s3, key, PHOTO.read_bytes())
    assert wait_until(lambda: _has_result(stack, key, etag), timeout=90)
    body = stack.s3.get_object(Bucket="palettes", Key=key + ".json")["Body"].read()
    with http_client() as client:
        assert post(client, receiver.url, RECEIVER_SECRET, body) == 204
        assert post(client, receiver.url, RECEIVER_SECRET, body) == 204
    line = f"palette done {key}"
    assert wait_until(lambda: line in receiver.output(), timeout=10), receiver.output()
    assert receiver.output().count(line) == 1


def test_callback_receiver_refuses_bad_signatures(receiver: Receiver) -> None:
    body = json.dumps({"status": "done", "source": {"key": "forged.jpg"}}).encode()
    with http_client() as client:
        with pytest.raises(CallbackFailed, match="HTTP 400"):
            post(client, receiver.url, "another-secret-0123456789", body)
        stale = sign(RECEIVER_SECRET, body, timestamp=int(time.time()) - 3600)
        for header in (stale, None):
            headers = {"Content-Type": "application/json"}
            if header is not None:
                headers["Palette-Signature"] = header
            response = client.post(receiver.url, content=body, headers=headers)
            assert response.status_code == 400
        tampered = body.replace(b"forged", b"forgex")
        response = client.post(
            receiver.url,
            content=tampered,
            headers={"Palette-Signature": sign(RECEIVER_SECRET, body)},
        )
        assert response.status_code == 400
    assert "forged.jpg" not in receiver.output()


def _has_result(stack: Any, key: str, etag: str) -> bool:
    try:
        return bool(stored(stack, key)["source"]["etag"] == etag)
    except stack.s3.exceptions.NoSuchKey:
        return False
