"""Docs name real files: every repository path a README, docstring, comment or manifest
mentions exists, so a renamed module or a benchmark that was never written shows up here
instead of in a reader's dead end (issue 11 item 7 found three such references)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PATH = re.compile(r"(?<![\w/.-])((?:worker|api_stub|infra|benchmarks|tests|docs)/[\w./-]*\w)")
"""A repository-relative path under one of the top-level folders (not part of a longer
path or a URL: ``/work/wt/x/worker/...`` and ``http://h/worker/...`` do not count)."""
TEXT_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".toml", ".sh", ".js", ".html")
TEXT_NAMES = ("Dockerfile", "Makefile")


def referenced_paths(text: str) -> set[str]:
    return {match.rstrip(".") for match in PATH.findall(text)}


def _tracked_texts() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [
        ROOT / name
        for name in listed
        if name.endswith(TEXT_SUFFIXES) or Path(name).name in TEXT_NAMES
    ]


def test_the_path_finder_finds_paths_and_only_repository_paths() -> None:
    text = (
        "see ``benchmarks/bench_storage.py``, worker/beat/ and tests/data/chelsea.jpg. "
        "Not /work/wt/core-base/worker/tasks.py nor http://h/worker/tasks.py."
    )
    assert referenced_paths(text) == {
        "benchmarks/bench_storage.py",
        "worker/beat",
        "tests/data/chelsea.jpg",
    }


def test_every_path_the_docs_name_exists() -> None:
    missing = sorted(
        f"{path.relative_to(ROOT)}: {ref}"
        for path in _tracked_texts()
        if path.exists()
        for ref in referenced_paths(path.read_text(errors="replace"))
        if not (ROOT / ref).exists()
    )
    assert not missing, "\n".join(missing)
