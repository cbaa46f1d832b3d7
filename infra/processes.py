"""Detached processes, pid files, ports and waiting: the OS plumbing under ``infra.stack``.

Why the care: the stack outlives the command that starts it, so its processes must be
detached (own session, no parent to reap them) and found again later from a pid file.
A pid alone is not proof of life: a stopped process can linger as a zombie, and a pid can
be reused by an unrelated process. Liveness therefore asks psutil for the process's
state and compares its start time with the one recorded when we spawned it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

_DETACH = Path(__file__).with_name("_detach.py")
_GONE_STATES = {psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD}
# Start times are compared with this slack: psutil derives them from the boot time, which
# the kernel re-computes from the wall clock, so a clock adjustment can shift them slightly.
# A pid is reused only after the pid space wraps, never within a second of the first start.
SAME_START_S = 1.0


class StackError(Exception):
    """A stack operation failed; the message is the one line the user sees."""


@dataclass(frozen=True)
class Proc:
    """A process we started: its pid and start time (seconds since the epoch)."""

    pid: int
    started: float

    def to_dict(self) -> dict[str, float]:
        return {"pid": self.pid, "started": self.started}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Proc | None:
        """Read a state file; one written before psutil (``start_ticks``: clock ticks since
        boot) still names its processes, so ``stack down`` after an upgrade stops them."""
        if not raw:
            return None
        if "started" in raw:
            return cls(pid=int(raw["pid"]), started=float(raw["started"]))
        since_boot = int(raw["start_ticks"]) / os.sysconf("SC_CLK_TCK")
        return cls(pid=int(raw["pid"]), started=psutil.boot_time() + since_boot)


# --- processes (psutil) -----------------------------------------------------------------


def started(pid: int) -> float | None:
    """When the process started (seconds since the epoch); with the pid it names one
    process for good. None when there is no such process."""
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def running(pid: int) -> bool:
    """The pid names a process that is not a zombie (whoever it is)."""
    try:
        return psutil.Process(pid).status() not in _GONE_STATES
    except psutil.Error:
        return False


def is_alive(proc: Proc | None) -> bool:
    """True when the process exists, is not a zombie, and is the one we started."""
    if proc is None:
        return False
    try:
        process = psutil.Process(proc.pid)
        gone = process.status() in _GONE_STATES
        return not gone and abs(process.create_time() - proc.started) < SAME_START_S
    except psutil.Error:
        return False


def group_members(pgid: int) -> list[int]:
    """Live pids in a process group: a component's children share its session and group."""
    members = []
    for process in psutil.process_iter(["status"]):
        if process.info["status"] in _GONE_STATES:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):  # gone meanwhile
            if os.getpgid(process.pid) == pgid:
                members.append(process.pid)
    return members


def children(pid: int) -> list[int]:
    """Live direct children of ``pid`` (a Celery worker's pool processes)."""
    try:
        kids = psutil.Process(pid).children()
    except psutil.Error:
        return []
    return [kid.pid for kid in kids if running(kid.pid)]


# --- spawning ---------------------------------------------------------------------------


def spawn(command: Sequence[str], *, cwd: Path, log_path: Path, env: Mapping[str, str]) -> Proc:
    """Start ``command`` detached, output appended to ``log_path``; return its identity.

    A tiny launcher (``_detach.py``) starts the component in a new session and exits at
    once, so the component is re-parented to init: it survives us, and no ``Popen``
    object is left behind to warn about a still-running child.
    """
    spec = json.dumps({"command": list(command), "cwd": str(cwd), "log": str(log_path)})
    done = subprocess.run(
        [sys.executable, "-I", "-W", "ignore", str(_DETACH), spec],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(f"cannot start {command[0]}: {done.stderr.strip() or done.stdout}")
    pid = int(done.stdout.strip())
    since = started(pid)
    if since is None:
        raise StackError(f"{command[0]} exited at once; see {log_path}")
    return Proc(pid, since)


def rotate_log(log_path: Path) -> None:
    """Keep one previous log: a fresh file per start makes "ready since this start" easy."""
    if log_path.exists():
        log_path.replace(log_path.with_name(log_path.name + ".1"))


# --- pid files --------------------------------------------------------------------------


def write_pidfile(path: Path, pid: int) -> None:
    path.write_text(f"{pid}\n")


def remove_pidfile(path: Path) -> None:
    path.unlink(missing_ok=True)


# --- stopping ---------------------------------------------------------------------------


def stop_all(procs: Iterable[Proc], *, timeout: float) -> None:
    """SIGTERM each process, wait up to ``timeout``, then SIGKILL its whole group.

    SIGTERM goes to the main process only, so Celery gets a warm shutdown instead of
    its pool children dying under it; the group kill catches whatever is left.
    """
    procs = [p for p in procs if is_alive(p)]
    for proc in procs:
        _signal(proc.pid, signal.SIGTERM)
    wait_until(lambda: not any(is_alive(p) for p in procs), timeout=timeout)
    for proc in procs:
        if is_alive(proc):
            _signal(proc.pid, signal.SIGKILL)
        _kill_group(proc.pid)
    wait_until(lambda: not any(is_alive(p) or group_members(p.pid) for p in procs), timeout=5)
    for proc in procs:
        _reap(proc.pid)


def _kill_group(pgid: int) -> None:
    """Leftover children of a component (Celery pool processes) die with it."""
    if group_members(pgid):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect the exit status when the component happens to be our own child."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


# --- ports ------------------------------------------------------------------------------


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """Could a server bind ``host:port`` now? (SO_REUSEADDR, as servers set it.)"""
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL):
                return False
            raise
    return True


def pick_port_pair(
    taken: set[int], *, low: int = 15000, high: int = 22000, host: str = "127.0.0.1"
) -> int:
    """A free port ``p`` whose ``p + 10000`` is free too (SeaweedFS puts gRPC there).

    The range keeps both below Linux's ephemeral ports (32768+), where a client's
    outgoing connection could take the port between our check and the server's bind.
    """
    start = low + (os.getpid() * 7919 + time.monotonic_ns()) % (high - low)
    for offset in range(high - low):
        port = low + (start - low + offset) % (high - low)
        pair = {port, port + 10000}
        if not pair & taken and port_free(port, host) and port_free(port + 10000, host):
            return port
    raise StackError(f"no free port pair in {low}-{high}")


# --- waiting ----------------------------------------------------------------------------


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.1) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; return the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def log_tail(path: Path, lines: int = 20) -> str:
    """The end of a component's log, to show why it did not come up."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 16384))
            text = fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
