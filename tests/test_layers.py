"""The layers point one way (DESIGN.md): each module imports only from layers below it.

    web -> intake -> pipeline -> commands / state / report -> github

Leaf modules (the shared vocabulary and helpers) sit below everything; the composition
root (app, cli, sandbox) above. `bot/testing` (the emulator) stands apart: it imports
nothing from the bot, so it can serve any App.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bot"

RANK = {
    "domain": 0,
    "config": 1,
    "metrics": 1,
    "buckets": 1,
    "markdown": 1,
    "logs": 1,
    "github": 2,
    "commands": 3,
    "state": 3,
    "report": 3,
    "pipeline": 4,
    "intake": 5,
    "web": 6,
    "app": 7,
    "sandbox": 7,
    "cli": 8,
    "__main__": 9,
}


def room(module: str) -> str:
    """`bot.pipeline.runner` -> `pipeline`; `bot.domain` -> `domain`."""
    return module.split(".")[1]


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("bot."):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("bot."))
    return found


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found.append((".".join(parts), path))
    return found


@pytest.mark.parametrize(("module", "path"), modules(), ids=lambda v: str(v))
def test_imports_point_down(module: str, path: Path) -> None:
    if module == "bot.__init__":
        return
    mine = room(module)
    for imported in imports_of(path):
        theirs = room(imported)
        if mine == "testing":
            assert theirs == "testing", f"{module} imports {imported}: the emulator stands apart"
            continue
        if theirs == mine:
            continue
        if theirs == "testing":
            assert RANK[mine] >= RANK["app"], f"{module} imports the emulator"
            continue
        assert RANK[theirs] < RANK[mine], f"{module} ({mine}) imports {imported} ({theirs})"
