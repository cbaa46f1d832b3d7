"""The api_stub's OpenAPI document is served and tells the truth about the live service.

schemathesis generates requests from ``/openapi.json`` (valid and invalid ones) and sends
them to the stack's real api_stub (real SeaweedFS, real Redis behind it), checking every
response against the documented status codes, content types, headers and schemas.
``POST /events`` runs with the webhook token; schemathesis's ``ignored_auth`` check
sends the same requests without it (and with a wrong one) and expects a 401.

The run is bounded and deterministic: a fixed seed, a few examples per operation, one
worker, no example database, and a wall-clock timeout on the subprocess.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

pytestmark = pytest.mark.integration

MAX_EXAMPLES = 25
SEED = 20261127
RUN_TIMEOUT_S = 300.0
"""A normal run takes well under a minute; this only stops a hung one."""

OPERATIONS = {
    ("post", "/events"),
    ("get", "/palettes/{key}"),
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/"),
    ("post", "/uploads"),
    ("get", "/palettes"),
    ("get", "/bars/{key}"),
    ("get", "/files/{name}/{key}"),
}


def _openapi(api_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(api_url + "/openapi.json", timeout=10) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("application/json")
        return dict(json.loads(response.read()))


def test_openapi_document_lists_every_operation(stack: Any) -> None:
    document = _openapi(stack.api_url)
    assert document["openapi"].startswith("3.")
    served = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == OPERATIONS
    events = document["paths"]["/events"]["post"]
    assert events["security"] == [{"HTTPBearer": []}]
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert {"200", "400", "401", "413", "503"} <= set(events["responses"])


def _schemathesis(stack: Any, report_dir: Path) -> list[str]:
    token = stack.env["PALETTE_WEBHOOK_TOKEN"]
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{stack.api_url}/openapi.json",
        "--checks=all",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--workers=1",
        "--phases=examples,coverage,fuzzing",
        "--generation-database=none",
        "--request-timeout=15",
        "--no-color",
        "--output-truncate=false",
        f"--header=Authorization: Bearer {token}",
        "--report=junit,har",
        f"--report-dir={report_dir}",
    ]


def _require_schemathesis() -> None:
    """Skip without schemathesis, except in CI (``CI=true``): there, fail."""
    if importlib.util.find_spec("schemathesis") is not None:
        return
    reason = "schemathesis is not installed: pip install -e '.[test]'"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def test_schemathesis_finds_no_mismatch_with_the_live_api_stub(stack: Any, tmp_path: Path) -> None:
    _require_schemathesis()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEMATHESIS_")}
    result = subprocess.run(
        _schemathesis(stack, tmp_path),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        cwd=tmp_path,  # its caches and reports stay out of the checkout
        env=env,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-12000:]
    assert _tested_operations(tmp_path) == {f"{m.upper()} {p}" for m, p in OPERATIONS}
    statuses = _event_statuses(tmp_path)
    assert {("with token", 200), ("without token", 401)} <= statuses, statuses


def _tested_operations(report_dir: Path) -> set[str]:
    """Operation names from the JUnit report: each one was generated and sent."""
    (junit,) = report_dir.glob("junit-*.xml")
    root = ElementTree.parse(junit).getroot()
    return {case.attrib["name"] for case in root.iter("testcase")}


def _event_statuses(report_dir: Path) -> set[tuple[str, int]]:
    """(with/without token, status) of every POST /events schemathesis sent (HAR report)."""
    (har,) = report_dir.glob("har-*.json")
    seen = set()
    for entry in json.loads(har.read_text())["log"]["entries"]:
        request = entry["request"]
        if request["method"] != "POST" or not request["url"].endswith("/events"):
            continue
        names = {header["name"].lower() for header in request["headers"]}
        label = "with token" if "authorization" in names else "without token"
        seen.add((label, entry["response"]["status"]))
    return seen
