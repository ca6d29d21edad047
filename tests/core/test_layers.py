"""The layout is the architecture: core/ imports neither Rasa, rasa-sdk nor the servers' packages;
actions/ (the action server) never imports Rasa or bot/ (what runs inside the Rasa server)."""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = {
    "core": ("rasa", "rasa_sdk", "actions", "bot"),
    "actions": ("rasa", "bot"),
}


def imports(path: Path) -> Iterator[Tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_only_what_its_layer_may(package):
    found = [f"{path.relative_to(ROOT)}:{line} imports {name}"
             for path in sorted((ROOT / package).rglob("*.py"))
             for line, name in imports(path)
             if name.split(".")[0] in FORBIDDEN[package]]
    assert found == []
