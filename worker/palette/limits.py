"""A per-process memory cap: the backstop behind the decoder's own limits.

Why: ``decode`` bounds what it decodes (header checks, a decoded-size budget per
format), but the bytes come from anyone who can upload, and one allocation we did not
foresee must fail *that job* with a ``MemoryError`` (stored as a failed result), not get
the whole worker, or the host's other workers, killed by the kernel's OOM killer.

How: ``RLIMIT_AS`` (address space) set to what the process maps already plus a headroom,
once per worker process after its imports (Celery's ``worker_process_init``). The address
space, not the resident size, because Linux enforces no limit on RSS; the headroom is
generous since mappings are not all resident (thread stacks, allocator arenas).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

ENV = "PALETTE_MEMORY_CAP_MB"
DEFAULT_HEADROOM_MB = 1024
"""Address space a process may map beyond what it has at start-up, in MiB (0: no cap)."""


def mapped_bytes() -> int | None:
    """This process's current address-space size (VmSize), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def cap_memory(headroom_mb: int) -> int | None:
    """Cap this process's address space at its current size + ``headroom_mb``.

    Returns the limit set in bytes, or None when nothing was set (headroom 0, no /proc,
    or a hard limit already lower). Never raises: a cap is protection, not a requirement.
    """
    current = mapped_bytes()
    if headroom_mb <= 0 or current is None:
        return None
    limit = current + headroom_mb * 1024 * 1024
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and hard < limit:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError):
        return None
    return limit


def cap_from_environment() -> int | None:
    """``cap_memory`` with ``PALETTE_MEMORY_CAP_MB`` (default 1024; 0 turns it off)."""
    raw = os.environ.get(ENV, str(DEFAULT_HEADROOM_MB)).strip()
    try:
        headroom = int(raw)
    except ValueError:
        headroom = DEFAULT_HEADROOM_MB
    return cap_memory(headroom)
