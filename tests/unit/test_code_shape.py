"""The shape that keeps the code safe to change (issue 11, item 4): no import cycles, small
functions, nothing done at import time, and no module-level state without a reason.

The import graph is grimp's (every import statement, including those inside functions
and ``if __name__`` blocks: a lazy import hides a cycle from Python, not from readers).
The rest is an ``ast`` walk of the source, so nothing here imports the code it checks.
"""

from __future__ import annotations

import ast
import statistics
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "api_stub", "infra")
SOURCE_DIRS = (*PACKAGES, "tests", "benchmarks")
MAX_FUNCTION_LINES = 60
MAX_P90_LINES = 30

TOO_LONG_FOR_NOW: dict[str, str] = {}
"""Known functions over ``MAX_FUNCTION_LINES``, each with what removes it. An entry must
still be over the limit (so it is deleted with the fix), and none may be added."""

DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
CACHES = {"cache", "lru_cache", "cached_property"}
MUTATORS = {
    "append",
    "add",
    "clear",
    "discard",
    "extend",
    "insert",
    "pop",
    "popitem",
    "remove",
    "setdefault",
    "update",
}


# --- imports --------------------------------------------------------------------------


def import_cycles(imports: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of two or more modules (Tarjan's algorithm):
    each is at least one cycle, and a graph without such a group has none."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in sorted(imports.get(module, ())):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = stack[stack.index(module) :]
            del stack[stack.index(module) :]
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(imports):
        if module not in index:
            visit(module)
    return cycles


def test_the_cycle_finder_finds_a_cycle_and_only_cycles() -> None:
    assert import_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert import_cycles({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) == []


def test_no_import_cycles_between_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    assert import_cycles(imports) == []


# --- functions ------------------------------------------------------------------------


def sources(*folders: str) -> Iterator[tuple[str, ast.Module]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), ast.parse(path.read_text(), str(path))


def function_lengths() -> dict[str, int]:
    """Lines from ``def`` to the last line of the body (decorators not counted); a nested
    function counts on its own and inside its parent."""
    lengths = {}
    for name, tree in sources(*SOURCE_DIRS):
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert node.end_lineno is not None
                where = f"{name}::{node.name}"
                lengths[where if where not in lengths else f"{where}:{node.lineno}"] = (
                    node.end_lineno - node.lineno + 1
                )
    return lengths


def test_every_function_is_at_most_60_lines() -> None:
    too_long = {f for f, n in function_lengths().items() if n > MAX_FUNCTION_LINES}
    assert sorted(too_long - TOO_LONG_FOR_NOW.keys()) == []
    assert sorted(TOO_LONG_FOR_NOW.keys() - too_long) == [], "fixed: delete the entry"


def test_nine_functions_in_ten_are_at_most_30_lines() -> None:
    lengths = sorted(function_lengths().values())
    assert statistics.quantiles(lengths, n=10)[-1] <= MAX_P90_LINES


# --- import time ----------------------------------------------------------------------


def _is_main_guard(node: ast.stmt) -> bool:
    return isinstance(node, ast.If) and ast.unparse(node.test) == "__name__ == '__main__'"


def _is_type_checking_block(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and ast.unparse(node.test) == "TYPE_CHECKING"
        and all(isinstance(s, ast.Import | ast.ImportFrom) for s in node.body)
    )


def _binds_names_only(node: ast.stmt) -> bool:
    targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
    return all(
        isinstance(t, ast.Name)
        or (isinstance(t, ast.Tuple) and all(isinstance(e, ast.Name) for e in t.elts))
        for t in targets
    )


def import_time_actions(tree: ast.Module) -> list[int]:
    """Lines of top-level statements that do something when the module is imported:
    anything but imports, definitions, names bound to values and docstrings."""
    actions = []
    for node in tree.body:
        harmless = (
            isinstance(node, DEFINITIONS)
            or (isinstance(node, ast.Assign | ast.AnnAssign) and _binds_names_only(node))
            or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))
            or _is_main_guard(node)
            or _is_type_checking_block(node)
        )
        if not harmless:
            actions.append(node.lineno)
    return actions


@pytest.mark.parametrize(
    ("source", "actions"),
    [
        ('"""Doc."""\nimport os\nX = 1\nA, B = 1, 2\ndef f():\n    os.exit()\n', []),
        ("import os\nos.environ['X'] = '1'\n", [2]),
        ("import logging\nlogging.basicConfig()\n", [2]),
        ("for x in ():\n    pass\nif __name__ == '__main__':\n    f()\n", [1]),
    ],
)
def test_import_time_actions_are_found(source: str, actions: list[int]) -> None:
    assert import_time_actions(ast.parse(source)) == actions


def test_importing_a_module_does_nothing_but_define_names() -> None:
    """Entry points (``__main__.py``) run when imported: that is what they are for."""
    found = {
        name: lines
        for name, tree in sources(*PACKAGES)
        if not name.endswith("__main__.py") and (lines := import_time_actions(tree))
    }
    assert found == {}


# --- module-level state ---------------------------------------------------------------


def _module_names(tree: ast.Module) -> dict[str, int]:
    """Top-level names bound by assignment, with the index of their statement."""
    names = {}
    for i, node in enumerate(tree.body):
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            for leaf in ast.walk(target):
                if isinstance(leaf, ast.Name):
                    names[leaf.id] = i
    return names


def _changed_in_functions(tree: ast.Module, names: set[str]) -> set[str]:
    """Module-level names a function rebinds (``global``) or changes in place."""
    changed = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Global):
            changed |= set(node.names) & names
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in MUTATORS and isinstance(owner, ast.Name):
                changed |= {owner.id} & names
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if not isinstance(node, ast.AugAssign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
                    changed |= {target.value.id} & names
    return changed


def _has_docstring_after(tree: ast.Module, index: int) -> bool:
    after = tree.body[index + 1] if index + 1 < len(tree.body) else None
    return (
        isinstance(after, ast.Expr)
        and isinstance(after.value, ast.Constant)
        and isinstance(after.value.value, str)
    )


def unexplained_state(tree: ast.Module) -> list[str]:
    """Module-level state with no written reason: a name changed after import without a
    docstring under its assignment, or a cached function without a docstring."""
    names = _module_names(tree)
    found = [
        name
        for name in sorted(_changed_in_functions(tree, set(names)))
        if not _has_docstring_after(tree, names[name])
    ]
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and ast.get_docstring(node) is None:
            decorators = {ast.unparse(d).split("(")[0].split(".")[-1] for d in node.decorator_list}
            if decorators & CACHES:
                found.append(node.name)
    return found


@pytest.mark.parametrize(
    ("source", "unexplained"),
    [
        ("_SEEN = set()\ndef f(x):\n    _SEEN.add(x)\n", ["_SEEN"]),
        ('_SEEN = set()\n"""Why."""\ndef f(x):\n    _SEEN.add(x)\n', []),
        ("_C = None\ndef f():\n    global _C\n    _C = 1\n", ["_C"]),
        ("_C = {}\ndef f():\n    _C['a'] = 1\n", ["_C"]),
        ("_C = {'a': 1}\ndef f():\n    return _C['a']\n", []),
        ("import functools\n@functools.cache\ndef f():\n    return 1\n", ["f"]),
        ('@lru_cache(maxsize=1)\ndef f():\n    """Why."""\n', []),
    ],
)
def test_unexplained_state_is_found(source: str, unexplained: list[str]) -> None:
    assert unexplained_state(ast.parse(source)) == unexplained


def test_module_level_state_says_why_it_exists() -> None:
    found = {name: state for name, tree in sources(*PACKAGES) if (state := unexplained_state(tree))}
    assert found == {}
