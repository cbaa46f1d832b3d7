"""docker-compose.yml agrees with the code: no Docker engine runs here, so read the file.

Each test pins one piece of wiring that would otherwise only fail at ``docker compose up``:
service names and commands, variable names (worker/config.py is the contract), bucket
names, the webhook URL and token, pinned images, healthchecks and start order.
"""

from __future__ import annotations

import importlib.util
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
APP_SERVICES = ("api_stub", "worker", "beat")
POLICY = ROOT / "infra" / "minio" / "palette-app-policy.json"

SHELL_ENV = {
    "PALETTE_WEBHOOK_TOKEN": "webhook-token",
    "PALETTE_API_TOKEN": "api-token",
    "REDIS_PASSWORD": "0123abcd",
    "MINIO_ROOT_PASSWORD": "root-password",
    "MINIO_APP_PASSWORD": "app-password",
}
"""What the header of docker-compose.yml tells the user to export."""

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``; a missing
    required variable fails like ``docker compose config`` would."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if env.get(name):
            return env[name]
        if op in {":?", "?"}:
            raise AssertionError(f"{name} is required: {arg}")
        return arg or ""

    return _VARIABLE.sub(one, value.replace("$$", "\0")).replace("\0", "$")


WEBHOOK_ID = "PALETTE"
ARN = f"arn:minio:sqs::{WEBHOOK_ID}:webhook"

EXTRA_VARIABLES = {
    "PALETTE_API_BIND": ROOT / "api_stub" / "server.py",
    "PALETTE_API_TOKEN": ROOT / "worker" / "bearer.py",
}
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


def test_the_services_are_the_documented_six(services: dict[str, Any]) -> None:
    assert set(services) == {"minio", "minio-init", "redis", "api_stub", "worker", "beat"}


def _runs_beat(service: dict[str, Any]) -> bool:
    command = service.get("command") or []
    text = " ".join(command) if isinstance(command, list) else str(command)
    return "worker.beat" in text or "--beat" in text or "celery beat" in text


def test_exactly_one_process_runs_beat(services: dict[str, Any]) -> None:
    """Beat inside the scaled worker would multiply the sweep; none at all loses it."""
    assert [name for name, service in services.items() if _runs_beat(service)] == ["beat"]
    beat = services["beat"]
    assert beat["command"] == ["python", "-m", "worker.beat"]
    assert beat.get("deploy", {}).get("replicas", 1) == 1
    assert importlib.util.find_spec("worker.beat.__main__") is not None  # runnable with -m


def test_app_services_run_our_entry_points_from_one_image(services: dict[str, Any]) -> None:
    assert services["api_stub"]["command"][:3] == ["python", "-m", "api_stub"]
    assert services["worker"]["command"][:3] == ["python", "-m", "worker"]
    assert services["beat"]["command"][:3] == ["python", "-m", "worker.beat"]
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


def resolved_env(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolate(v, SHELL_ENV) for k, v in env_of(service).items()}


def test_app_settings_parse_and_point_at_the_compose_services(services: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        settings = Settings.from_env(resolved_env(services[name]))
        s3 = urlsplit(settings.s3_endpoint or "")
        assert (s3.hostname, s3.port) == ("minio", 9000)
        broker = urlsplit(settings.broker_url)
        assert (broker.scheme, broker.hostname, broker.port) == ("redis", "redis", 6379)


def test_redis_keeps_an_append_only_file_and_requires_the_brokers_password(
    services: dict[str, Any],
) -> None:
    redis = services["redis"]
    script = " ".join(redis["command"])
    assert "--appendonly yes" in script
    assert "--appendfsync everysec" in script
    assert '--requirepass "$$REDIS_PASSWORD"' in script
    password = resolved_env(redis)["REDIS_PASSWORD"]
    assert password == SHELL_ENV["REDIS_PASSWORD"]
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "ports" not in redis, "the broker must not be published"
    for name in APP_SERVICES:
        url = urlsplit(Settings.from_env(resolved_env(services[name])).broker_url)
        assert url.password == password, name
    with pytest.raises(AssertionError, match="REDIS_PASSWORD is required"):
        interpolate(env_of(services["worker"])["PALETTE_BROKER_URL"], {})


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


def test_the_app_uses_its_own_minio_user_never_root(services: dict[str, Any]) -> None:
    minio = resolved_env(services["minio"])
    init = resolved_env(services["minio-init"])
    root = (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
    assert (init["MINIO_ROOT_USER"], init["MINIO_ROOT_PASSWORD"]) == root
    app = (init["MINIO_APP_USER"], init["MINIO_APP_PASSWORD"])
    assert app[0] != root[0]
    assert app[1] != root[1]
    for name in APP_SERVICES:
        env = resolved_env(services[name])
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == app, name
        assert not any("MINIO_ROOT" in value for value in env_of(services[name]).values())


def test_minio_init_creates_the_app_user_with_the_bucket_policy(
    services: dict[str, Any],
) -> None:
    script = script_of(services["minio-init"])
    assert 'mc admin user add local "$$MINIO_APP_USER" "$$MINIO_APP_PASSWORD"' in script
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["minio-init"]["volumes"]}
    policy_file = "/palette/palette-app-policy.json"
    assert (ROOT / mounted[policy_file]).resolve() == POLICY
    assert f"mc admin policy create local palette-app {policy_file}" in script
    assert 'mc admin policy attach local palette-app --user "$$MINIO_APP_USER"' in script
    # created after the buckets, before anything that uses them
    assert script.index("mc mb ") < script.index("mc admin user add")


def test_the_app_policy_reaches_the_two_buckets_and_nothing_else() -> None:
    import json

    defaults = Settings()
    buckets = {defaults.input_bucket, defaults.output_bucket}
    policy = json.loads(POLICY.read_text())
    allowed: dict[str, set[str]] = {}
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert action.startswith("s3:"), action
            assert "*" not in action, action
            allowed.setdefault(action, set()).update(statement["Resource"])
    assert set(allowed) == {"s3:GetBucketLocation", "s3:ListBucket", "s3:GetObject", "s3:PutObject"}
    for action in ("s3:ListBucket", "s3:GetBucketLocation"):
        assert allowed[action] == {f"arn:aws:s3:::{b}" for b in buckets}
    for action in ("s3:GetObject", "s3:PutObject"):
        assert allowed[action] == {f"arn:aws:s3:::{b}/*" for b in buckets}


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
    redis_check = services["redis"]["healthcheck"]["test"]
    assert redis_check == ["CMD-SHELL", "redis-cli ping | grep -q PONG"]
    assert "REDISCLI_AUTH" in env_of(services["redis"])  # without it, NOAUTH: never healthy
    api_check = " ".join(services["api_stub"]["healthcheck"]["test"])
    assert "/healthz" in api_check
    assert f":{env_of(services['api_stub'])['PALETTE_API_BIND'].rsplit(':', 1)[1]}/" in api_check


def test_start_order_has_no_cycle_and_waits_for_what_it_needs(
    services: dict[str, Any],
) -> None:
    def waits(name: str) -> dict[str, str]:
        return {dep: c["condition"] for dep, c in services[name].get("depends_on", {}).items()}

    for name in ("worker", "beat"):
        assert waits(name) == {
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
