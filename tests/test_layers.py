"""The package's layers import only downwards: io → features → model → twin → report → pipeline → cli."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "neurotwin"
#: rank of each subpackage; a module may import only ranks up to its own (shared helpers are rank 0)
RANK = {
    "_logging": 0,
    "_validation": 0,
    "_docs": 0,
    "_files": 0,
    "_keys": 0,
    "errors": 0,
    "io": 1,
    "features": 3,
    "model": 4,
    "twin": 5,
    "testing": 5,
    # synthetic recordings are drawn from the model through the twins' own observation models (MEG:
    # its lead field and sensor spectrum); nothing below imports them
    "datasets": 5,
    "report": 6,
    "pipelines": 7,
    "pipeline": 7,
    "cli": 8,
}


def _imports(path: Path):
    """Subpackages a module imports, module-level and inside functions alike."""
    tree = ast.parse(path.read_text())
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = parts[: len(parts) - node.level]
                target = (*base, *(node.module.split(".") if node.module else []))
            else:
                target = tuple((node.module or "").split("."))
            if target[:1] == ("neurotwin",) and len(target) > 1:
                yield target[1], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name.split(".")
                if target[0] == "neurotwin" and len(target) > 1:
                    yield target[1], node.lineno


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PKG).parts
    return rel[0] if len(rel) > 1 else path.stem


MODULES = sorted(p for p in PKG.rglob("*.py") if _layer_of(p) in RANK)


@pytest.mark.parametrize("path", MODULES, ids=[str(p.relative_to(PKG)) for p in MODULES])
def test_no_upward_import(path):
    own = RANK[_layer_of(path)]
    upward = [(sub, line) for sub, line in _imports(path) if RANK.get(sub, 0) > own]
    assert not upward, f"{path.relative_to(PKG)} imports a higher layer: {upward}"
