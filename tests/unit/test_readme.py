"""The README is part of the product: its commands and its configuration table stay true."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CODE_DIRS = ("worker", "api_stub", "infra")


def _variables_in_code() -> set[str]:
    found: set[str] = set()
    for folder in CODE_DIRS:
        for path in (ROOT / folder).rglob("*.py"):
            found |= set(re.findall(r'"(PALETTE_[A-Z0-9_]+)"', path.read_text()))
    return found


def test_every_variable_the_code_reads_is_documented() -> None:
    missing = sorted(v for v in _variables_in_code() if f"`{v}`" not in README)
    assert missing == []


def test_every_variable_the_readme_names_exists() -> None:
    code = _variables_in_code()
    compose = (ROOT / "docker-compose.yml").read_text()
    named = set(re.findall(r"`(PALETTE_[A-Z0-9_]+)`", README))
    assert sorted(v for v in named if v not in code and v not in compose) == []


def test_the_two_commands_are_there_and_ci_runs_the_test_one() -> None:
    assert "make demo" in README
    assert "make test" in README
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_pictures_the_readme_shows_exist() -> None:
    for target in re.findall(r"!\[[^\]]*\]\(([^)]+)\)", README):
        assert (ROOT / target).is_file(), target


def _layout() -> str:
    return README.split("## Layout", 1)[1].split("\n## ", 1)[0]


def test_layout_shows_each_seam_and_the_files_it_names_exist() -> None:
    layout = _layout()
    for seam in ("An output", "A colour space", "An object store", "An event source"):
        assert f"**{seam}**" in layout
    named = re.findall(r"`([\w/]+\.py)`", layout)
    assert named
    assert [path for path in named if not (ROOT / path).is_file()] == []
