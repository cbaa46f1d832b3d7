"""Helpers any test may use, unit or integration."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from worker.storage import Storage

PALETTE = str(Path(sys.executable).with_name("palette"))
"""The console script, as a user runs it."""


def run_palette(
    *args: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120.0,
) -> subprocess.CompletedProcess[str]:
    """``palette ARGS`` as its own process, as a user runs it: this environment plus
    ``env``, output captured as text, the exit code left to the test."""
    return subprocess.run(
        [PALETTE, *args],
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def etag_of(storage: Storage, bucket: str, key: str) -> str:
    """The stored object's ETag; the object must exist and the store must say it."""
    info = storage.head(bucket, key)
    assert info is not None, f"s3://{bucket}/{key} does not exist"
    assert info.etag is not None, f"s3://{bucket}/{key} has no ETag"
    return info.etag
