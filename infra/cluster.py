"""Many hosts, one queue, on one machine: the stack on a bridge, workers in namespaces.

The services (S3 through the relay, Redis with its password, api_stub, the one beat) run
in the root namespace, bound to the bridge address by ``palette stack up --bind ADDR
--workers 0``; each worker host (``infra.netns``) runs ``python -m worker`` with
nothing but what ``palette stack env`` prints (plus ``PATH`` and where the code is):
no shared hostname, HOME or working directory, no loopback path to any service.
Used by tests/integration/test_cluster.py and benchmarks/cluster.py.
"""

from __future__ import annotations

import contextlib
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from infra import netns
from infra import stack as stack_mod
from infra.components import PROJECT_ROOT
from infra.private_stack import PrivateStack, private_environ, start
from infra.processes import StackError, log_tail, wait_until

_RECEIVED = re.compile(r"Task palette\.process\[([^\]]+)\] received")
_OUTCOME = re.compile(r"job (\S+) (done|failed|skipped)\b")

WORKER_READY_TIMEOUT = 180.0
"""Each host imports scikit-learn and warms up; several at once on a shared 2-core box."""


@dataclass
class Cluster:
    """The running simulation: the services' stack and the worker hosts."""

    network: netns.Network
    stack: PrivateStack
    hosts: list[netns.Host]
    logs: dict[str, Path] = field(default_factory=dict)
    """Worker log per host name (kept on disk after a host is cut)."""

    def log(self, host: netns.Host) -> str:
        return self.logs[host.name].read_text(errors="replace")

    def received(self, host: netns.Host) -> set[str]:
        """Job ids the host took from the queue (Celery's "received" line)."""
        return set(_RECEIVED.findall(self.log(host)))

    def outcomes(self, host: netns.Host) -> list[tuple[str, str]]:
        """(job id, done|failed|skipped) for each job the host finished, in order."""
        return _OUTCOME.findall(self.log(host))

    def held(self, host: netns.Host) -> set[str]:
        """Jobs the host took and has not finished: lost with it if it vanishes now."""
        return self.received(host) - {job for job, _ in self.outcomes(host)}


def worker_env(client_env: Mapping[str, str], settings: Mapping[str, str]) -> dict[str, str]:
    """What a worker host is given: the exports, the settings, and how to run Python."""
    return {
        **client_env,
        **settings,
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT),
        "PYTHONUNBUFFERED": "1",
        "LANG": "C.UTF-8",
    }


def start_workers(cluster: Cluster, concurrency: int, settings: Mapping[str, str]) -> None:
    """``python -m worker`` on every host; returns once each logged ``ready``."""
    env = worker_env(cluster.stack.env, settings)
    command = [sys.executable, "-m", "worker", "--concurrency", str(concurrency)]
    command.append("--celery-task-log")  # "received" lines show what a host held
    for host in cluster.hosts:
        cluster.logs[host.name] = host.root / "worker.log"
        host.spawn(command, env, cluster.logs[host.name])
    for host in cluster.hosts:
        if not wait_until(_ready(cluster, host), timeout=WORKER_READY_TIMEOUT):
            raise StackError(
                f"worker on {host.name} not ready:\n{log_tail(cluster.logs[host.name])}"
            )


def _ready(cluster: Cluster, host: netns.Host) -> Callable[[], bool]:
    return lambda: " ready." in cluster.log(host)


@contextlib.contextmanager
def simulated_cluster(
    hosts: int = 2,
    *,
    concurrency: int = 1,
    settings: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> Iterator[Cluster]:
    """Network, services and worker hosts; all of it removed at the end, failures too."""
    settings = dict(settings or {})
    with contextlib.ExitStack() as cleanup:
        if root is None:
            root = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="palette-net-")))
        network = cleanup.enter_context(netns.network(root, hosts))
        stack_dir = root / "stack"
        environ = private_environ(stack_dir, settings=settings)
        handle = start(stack_dir, environ, workers=0, beat=True, bind=network.address)
        cleanup.callback(stack_mod.down, stack_dir, purge=True)
        cluster = Cluster(network, handle, list(network.hosts))
        start_workers(cluster, concurrency, settings)
        yield cluster
