"""docker-compose.yml agrees with the code: no Docker engine runs here, so read the file.

Each test pins one piece of wiring that would otherwise only fail at ``docker compose up``:
service names and commands, variable names (worker/config.py is the contract), bucket
names, the webhook URL and token, pinned images, healthchecks and start order.
"""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from worker.config import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
APP_SERVICES = ("api_stub", "worker")
WEBHOOK_ID = "PALETTE"
ARN = f"arn:minio:sqs::{WEBHOOK_ID}:webhook"

EXTRA_VARIABLES = {"PALETTE_API_BIND": ROOT / "api_stub" / "__main__.py"}
"""Variables outside Settings, each with the file that must read it."""

MINIO_HOST_LABEL = re.compile(r"^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$")
"""MinIO's own check for a webhook host (pkg/net host.go): no "_" allowed."""


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def settings_variables() -> set[str]:
    return {f.metadata["env"] for f in fields(Settings)}


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping (KEY: value)"
    return {str(k): str(v) for k, v in env.items()}


def script_of(service: dict[str, Any]) -> str:
    command = service["command"]
    return command if isinstance(command, str) else "\n".join(command)


def test_the_services_are_the_documented_five(services: dict[str, Any]) -> None:
    assert set(services) == {"minio", "minio-init", "redis", "api_stub", "worker"}


def test_app_services_run_our_entry_points_from_one_image(services: dict[str, Any]) -> None:
    assert services["api_stub"]["command"][:3] == ["python", "-m", "api_stub"]
    assert services["worker"]["command"][:3] == ["python", "-m", "worker"]
    images = {services[name]["image"] for name in APP_SERVICES}
    assert len(images) == 1
    for name in APP_SERVICES:
        build = services[name]["build"]
        assert (ROOT / build["context"] / build["dockerfile"]).is_file()


def test_every_palette_and_aws_variable_is_one_the_code_reads(services: dict[str, Any]) -> None:
    known = settings_variables()
    for name in APP_SERVICES:
        for variable in env_of(services[name]):
            if not variable.startswith(("PALETTE_", "AWS_")):
                continue
            if variable in EXTRA_VARIABLES:
                assert variable in EXTRA_VARIABLES[variable].read_text()
                continue
            assert variable in known, f"{name}: {variable} is not in worker/config.py"


def test_app_services_get_every_setting_the_stack_depends_on(services: dict[str, Any]) -> None:
    needed = {
        "PALETTE_S3_ENDPOINT",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_DEFAULT_REGION",
        "PALETTE_INPUT_BUCKET",
        "PALETTE_OUTPUT_BUCKET",
        "PALETTE_BROKER_URL",
        "PALETTE_WEBHOOK_TOKEN",
    }
    for name in APP_SERVICES:
        assert needed <= set(env_of(services[name])), name


def test_app_settings_parse_and_point_at_the_compose_services(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        env = {k: v for k, v in env_of(services[name]).items() if "${" not in v}
        settings = Settings.from_env(env)
        s3 = urlsplit(settings.s3_endpoint or "")
        assert (s3.hostname, s3.port) == ("minio", 9000)
        broker = urlsplit(settings.broker_url)
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)


def test_bucket_names_are_the_settings_defaults(services: dict[str, Any]) -> None:
    defaults = Settings()
    for name in APP_SERVICES:
        env = env_of(services[name])
        assert env["PALETTE_INPUT_BUCKET"] == defaults.input_bucket
        assert env["PALETTE_OUTPUT_BUCKET"] == defaults.output_bucket
    script = script_of(services["minio-init"])
    assert f"mc mb --ignore-existing local/{defaults.input_bucket} " in script
    assert f"local/{defaults.output_bucket}" in script
    assert f"mc event add local/{defaults.input_bucket} {ARN} --event put" in script
    assert f"local/{defaults.output_bucket} {ARN}" not in script, "output must raise no events"


def test_s3_credentials_are_minio_root_credentials(services: dict[str, Any]) -> None:
    minio = env_of(services["minio"])
    for name in (*APP_SERVICES, "minio-init"):
        env = env_of(services[name])
        user = env.get("AWS_ACCESS_KEY_ID", env.get("MINIO_ROOT_USER"))
        password = env.get("AWS_SECRET_ACCESS_KEY", env.get("MINIO_ROOT_PASSWORD"))
        assert (user, password) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])


def test_webhook_reaches_the_api_stub_events_route(services: dict[str, Any]) -> None:
    minio = env_of(services["minio"])
    assert minio[f"MINIO_NOTIFY_WEBHOOK_ENABLE_{WEBHOOK_ID}"] == "on"
    url = urlsplit(minio[f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{WEBHOOK_ID}"])
    api = services["api_stub"]
    aliases = api["networks"]["default"]["aliases"]
    assert url.hostname in aliases
    assert MINIO_HOST_LABEL.match(url.hostname or ""), "MinIO rejects this host name"
    bind_port = int(env_of(api)["PALETTE_API_BIND"].rsplit(":", 1)[1])
    assert url.port == bind_port
    assert any(str(p).endswith(f":{bind_port}") for p in api["ports"])
    assert url.path == "/events"
    assert '"/events"' in (ROOT / "api_stub" / "app.py").read_text()


def test_minio_and_api_stub_share_the_webhook_token(services: dict[str, Any]) -> None:
    token = env_of(services["minio"])[f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{WEBHOOK_ID}"]
    assert token.startswith("${PALETTE_WEBHOOK_TOKEN")
    for name in APP_SERVICES:
        assert env_of(services[name])["PALETTE_WEBHOOK_TOKEN"] == token


def test_undelivered_events_are_queued_on_a_volume(services: dict[str, Any]) -> None:
    minio = services["minio"]
    queue_dir = env_of(minio)[f"MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_{WEBHOOK_ID}"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in minio["volumes"]}
    assert any(queue_dir == m or queue_dir.startswith(m + "/") for m in mounts)
    assert int(env_of(minio)[f"MINIO_NOTIFY_WEBHOOK_QUEUE_LIMIT_{WEBHOOK_ID}"]) > 0


def test_images_are_pinned_and_minio_comes_from_quay(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository, f"{name}: {image} has no tag"
        assert tag not in {"", "latest"}, f"{name}: {image} is not pinned"
    for name, repository in (("minio", "quay.io/minio/minio"), ("minio-init", "quay.io/minio/mc")):
        assert re.fullmatch(
            rf"{re.escape(repository)}:RELEASE\.\d{{4}}-\d\d-\d\dT\d\d-\d\d-\d\dZ",
            services[name]["image"],
        )


def test_every_long_running_service_has_a_healthcheck(services: dict[str, Any]) -> None:
    assert services["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert services["redis"]["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    api_check = " ".join(services["api_stub"]["healthcheck"]["test"])
    assert "/healthz" in api_check
    assert f":{env_of(services['api_stub'])['PALETTE_API_BIND'].rsplit(':', 1)[1]}/" in api_check


def test_start_order_has_no_cycle_and_waits_for_what_it_needs(
    services: dict[str, Any],
) -> None:
    def waits(name: str) -> dict[str, str]:
        return {dep: c["condition"] for dep, c in services[name].get("depends_on", {}).items()}

    assert waits("worker") == {
        "redis": "service_healthy",
        "minio-init": "service_completed_successfully",
    }
    assert waits("minio-init")["minio"] == "service_healthy"
    # api_stub's /healthz needs MinIO, so MinIO must not wait for it to be healthy
    assert waits("minio").get("api_stub") != "service_healthy"
    _assert_acyclic({name: set(waits(name)) for name in services})


def _assert_acyclic(graph: dict[str, set[str]]) -> None:
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"depends_on cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for dep in graph[node]:
            visit(dep, (*path, node))
        done.add(node)

    for node in graph:
        visit(node, ())


def test_dockerfile_installs_the_project_on_python_3_11_slim() -> None:
    text = (ROOT / "infra" / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert "pip install" in text
    for package in ("worker", "api_stub", "infra"):
        assert f"COPY {package} " in text
