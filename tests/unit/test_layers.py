"""Dependencies point one way: usersegments <- ml <- orchestration <- dags. A module
may import its own layer and the ones to its left, never one to its right (imports
inside functions included: a cycle hidden there is still a cycle)."""

from __future__ import annotations

import ast

import pytest

from usersegments.config import PROJECT_DIR

LAYERS = ["usersegments", "ml", "orchestration", "dags"]


def imported_packages(path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_nothing_to_its_right(layer):
    later = set(LAYERS[LAYERS.index(layer) + 1 :])
    wrong = {
        str(path.relative_to(PROJECT_DIR)): sorted(imported_packages(path) & later)
        for path in (PROJECT_DIR / layer).rglob("*.py")
        if imported_packages(path) & later
    }
    assert wrong == {}
