"""Hosts simulated with Linux network namespaces: a bridge, one namespace per host.

What makes a namespace a convincing "other machine" for the worker: its own network
stack (it reaches the services only through its veth and the bridge, never through
loopback), its own hostname (``unshare --uts``: results and log lines name it), its
own ``HOME`` and working directory (no shared disk by accident). Cutting a host is
``ip link set <veth> down`` on the root side, after which its TCP connections are
black-holed exactly as a pulled cable would leave them.

Layout, for a network named ``pw1a2b`` on ``10.213.7.0/24``::

    root namespace: bridge pw1a2b-br  10.213.7.1/24   (services bind here)
                    veth  pw1a2b-0 ──► namespace pw1a2b-h0: eth0 10.213.7.10/24
                    veth  pw1a2b-1 ──► namespace pw1a2b-h1: eth0 10.213.7.11/24

Needs root (or CAP_NET_ADMIN + CAP_SYS_ADMIN); ``available()`` says whether it works
here and why not. Everything created is removed by ``close()`` (and the context
manager), failures included: processes in each namespace are killed, the namespaces
deleted (their veth ends go with them), then the bridge. Traffic never leaves the
namespaces and the bridge this module made: no route, NAT or forwarding is added.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.processes import StackError

SUBNET_POOL = ipaddress.IPv4Network("10.213.0.0/16")
"""Private /24s are drawn from here, skipping any already routed on this machine."""
FIRST_HOST_OCTET = 10


def _ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise StackError(f"`{' '.join(command)}` failed: {done.stderr.strip()}")
    return done.stdout


def available() -> tuple[bool, str]:
    """(True, "") when namespaces, veths and bridges can be made here, else the reason."""
    if os.geteuid() != 0:
        return False, "network namespaces need root (CI runs as root)"
    name = "pwprobe" + secrets.token_hex(3)
    try:
        _ip("netns", "add", name)
    except (StackError, FileNotFoundError, subprocess.TimeoutExpired) as exc:
        return False, f"cannot create a network namespace here: {exc}"
    try:
        _ip("link", "add", name, "type", "veth", "peer", "name", "eth0", "netns", name)
    except StackError as exc:
        return False, f"cannot create a veth pair here: {exc}"
    finally:
        _ip("netns", "del", name, check=False)
    return True, ""


def _free_subnet() -> ipaddress.IPv4Network:
    """A /24 of ``SUBNET_POOL`` no route on this machine overlaps."""
    routed: list[ipaddress.IPv4Network] = []
    for line in _ip("-4", "route", "show").splitlines():
        token = line.split()[0] if line.split() else ""
        with contextlib.suppress(ValueError):
            routed.append(ipaddress.IPv4Network(token, strict=False))
    candidates = list(SUBNET_POOL.subnets(new_prefix=24))
    start = secrets.randbelow(len(candidates))
    for net in candidates[start:] + candidates[:start]:
        if not any(net.overlaps(other) for other in routed if other.prefixlen > 0):
            return net
    raise StackError(f"no free /24 left in {SUBNET_POOL}")


@dataclass
class Host:
    """One simulated machine: a namespace, its address, hostname, HOME and cwd."""

    name: str
    """Its hostname (what ``worker.host`` in a result says)."""
    netns: str
    veth: str
    """The root-namespace end of its link: down = the host is cut off."""
    address: str
    root: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.root / "home"

    def spawn(
        self, command: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> subprocess.Popen[bytes]:
        """Run ``command`` on this host: in its namespace, under its own hostname."""
        full = dict(env) | {"HOME": str(self.home), "HOSTNAME": self.name}
        wrapped = [
            *["ip", "netns", "exec", self.netns, "unshare", "--uts", "--"],
            *["sh", "-c", 'hostname "$0" && exec "$@"', self.name, *command],
        ]
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                wrapped,
                cwd=self.root,
                env=full,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def pids(self) -> list[int]:
        """Every process in the namespace, ours or not (``ip netns pids``)."""
        out = _ip("netns", "pids", self.netns, check=False)
        return [int(p) for p in out.split() if p.isdigit()]

    def cut(self) -> None:
        """The host vanishes: its link goes down, then every process in it is SIGKILLed
        (no warm shutdown, no acknowledgement, no goodbye to Redis)."""
        self.link_down()
        self.kill()

    def link_down(self) -> None:
        """Off the network: its processes run on but reach nothing beyond the host."""
        _ip("link", "set", self.veth, "down")

    def kill(self) -> None:
        for pid in self.pids():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


class Network:
    """A bridge in the root namespace and ``count`` hosts joined to it."""

    def __init__(self, root: Path, count: int) -> None:
        self.tag = "pw" + secrets.token_hex(2)
        self.bridge = f"{self.tag}-br"
        self.root = root
        self.hosts: list[Host] = []
        self._bridge_made = False
        subnet = _free_subnet()
        self.subnet = subnet
        self.address = str(subnet.network_address + 1)
        """The bridge's address: where the services listen."""
        try:
            self._make_bridge()
            for index in range(count):
                self._add_host(index)
        except BaseException:
            self.close()
            raise

    def _make_bridge(self) -> None:
        _ip("link", "add", self.bridge, "type", "bridge")
        self._bridge_made = True
        _ip("addr", "add", f"{self.address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")

    def _add_host(self, index: int) -> None:
        netns, veth = f"{self.tag}-h{index}", f"{self.tag}-{index}"
        address = str(self.subnet.network_address + FIRST_HOST_OCTET + index)
        _ip("netns", "add", netns)
        host = Host(f"host{index}-{self.tag}", netns, veth, address, self.root / f"host{index}")
        self.hosts.append(host)  # from here on close() removes it, whatever fails next
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", netns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        _ip("addr", "add", f"{address}/24", "dev", "eth0", netns=netns)
        _ip("link", "set", "eth0", "up", netns=netns)
        _ip("link", "set", "lo", "up", netns=netns)
        host.home.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        """Kill every process in every namespace, delete the namespaces, the bridge."""
        for host in self.hosts:
            host.kill()
            for _ in range(50):  # a namespace is deleted only once nothing runs in it
                if not host.pids():
                    break
                time.sleep(0.1)
            _ip("netns", "del", host.netns, check=False)
            _ip("link", "del", host.veth, check=False)
        self.hosts = []
        if self._bridge_made:
            _ip("link", "del", self.bridge, check=False)
            self._bridge_made = False

    def __enter__(self) -> Network:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def network(root: Path, count: int) -> Iterator[Network]:
    """``Network`` that is always torn down, SIGTERM included (it becomes SystemExit)."""
    previous = signal.getsignal(signal.SIGTERM)

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    in_main = _is_main_thread()
    if in_main:
        signal.signal(signal.SIGTERM, terminate)
    try:
        with Network(root, count) as net:
            yield net
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def leftovers() -> list[str]:
    """Namespaces and links this module may have left (names starting ``pw``+hex)."""
    found = [n.split()[0] for n in _ip("netns", "list", check=False).splitlines() if n.strip()]
    for line in _ip("-o", "link", "show", check=False).splitlines():
        parts = line.split(":")
        if len(parts) > 1:
            found.append(parts[1].strip().split("@")[0])
    return [name for name in found if _ours(name)]


def _ours(name: str) -> bool:
    return name.startswith("pw") and len(name) > 6 and name[6] == "-" and _hex(name[2:6])


def _hex(text: str) -> bool:
    return all(c in "0123456789abcdef" for c in text)
