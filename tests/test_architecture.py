"""The package's shape, checked from its source: data flows one way and no module imports its way
back (an import cycle makes a module unreadable alone and import order matter)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "scopelab"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported_modules(name: str) -> set[str]:
    """Every scopelab module that `name` imports anywhere: at the top, inside functions and under
    TYPE_CHECKING alike (a cycle through a function-level import is still a cycle in the design)."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            candidates = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                found.add(candidate)
    return found


IMPORTS = {name: imported_modules(name) for name in MODULES}


def cycle_through(start: str) -> list[str] | None:
    """A path of imports from `start` back to itself, if there is one (depth-first)."""
    stack, seen = [(start, [start])], set()
    while stack:
        name, path = stack.pop()
        for target in sorted(IMPORTS[name]):
            if target == start:
                return path + [start]
            if target not in seen:
                seen.add(target)
                stack.append((target, path + [target]))
    return None


def test_there_are_no_relative_imports_to_miss():
    relative = [name for name, path in MODULES.items()
                for node in ast.walk(ast.parse(path.read_text()))
                if isinstance(node, ast.ImportFrom) and node.level]
    assert relative == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_cycle(name):
    assert cycle_through(name) is None, " -> ".join(cycle_through(name))


# Each module's place in the flow (docs/ARCHITECTURE.md): a module imports only from its own level or
# below. The first matching prefix wins; a new module must be given a level here.
LEVELS = (
    ("basics", ("errors", "safe_read", "quiet_tf", "failures", "dotted", "metrics", "signals", "ownership",
                "datasets")),
    ("inputs and records", ("config", "config_source", "data", "runs", "checkpoints", "footprint", "provenance",
                            "plugins")),
    ("models", ("layers", "modules", "experiments", "api")),
    ("training", ("trainer", "tensorboard", "hparams")),
    ("reporting", ("report", "manage", "inspector", "scopes", "board", "board_view", "export_mlflow",
                   "reproduce_request")),  # reproduce_request: the plain data reproduce hands its report
    ("orchestration", ("runner", "sweep", "reproduce")),
    ("command line", ("cli", "__main__", "completion")),
)


def level(name: str) -> int:
    parts = name.split(".")[1:] or ["__init__"]
    if parts == ["__init__"]:
        return 0
    for index, (_, prefixes) in enumerate(LEVELS):
        if parts[0] in prefixes:
            return index
    raise AssertionError(f"{name} has no level in tests/test_architecture.py LEVELS")


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_go_down_the_flow_only(name):
    upward = [f"{target} ({LEVELS[level(target)][0]})" for target in sorted(IMPORTS[name])
              if level(target) > level(name)]
    assert upward == [], f"{name} ({LEVELS[level(name)][0]}) imports from above: {', '.join(upward)}"
