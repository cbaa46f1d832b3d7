"""The per-process memory cap turns a runaway allocation into a MemoryError."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from worker.palette import limits


def run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", **env},
        check=False,
    )


@pytest.mark.skipif(limits.mapped_bytes() is None, reason="needs /proc (Linux)")
def test_an_allocation_beyond_the_cap_fails_that_call_only() -> None:
    done = run(
        """
        from worker.palette.limits import cap_from_environment
        assert cap_from_environment() is not None
        try:
            bytearray(512 * 1024 * 1024)
        except MemoryError:
            print("refused")
        small = bytearray(16 * 1024 * 1024)  # the process goes on working
        print("alive", len(small))
        """,
        PALETTE_MEMORY_CAP_MB="128",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["refused", "alive", str(16 * 1024 * 1024)]


def test_zero_turns_the_cap_off() -> None:
    done = run(
        """
        import resource
        from worker.palette.limits import cap_from_environment
        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        print(cap_from_environment(), soft == resource.RLIM_INFINITY)
        """,
        PALETTE_MEMORY_CAP_MB="0",
    )
    assert done.stdout.split() == ["None", "True"], done.stderr
