"""The source tree's layering: imports flow down the pipeline, never up (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "edgezoo"

# Rank of each stage: a module may import its own stage and any stage of a lower rank. Stages of the same
# rank (bench, evaluate) may not import each other.
RANKS = {
    "core": 0,
    "zoo": 1,
    "inputs": 2,
    "export": 3,
    "runtime": 4,
    "quantize": 5,
    "bench": 6,
    "evaluate": 6,
    "rdk": 6,
    "tune": 7,
    "pipeline": 8,
    "cli": 9,
}


def _stage(module: str) -> str:
    """'edgezoo.quantize.api' -> 'quantize'; top-level helpers (errors, artifact, ...) are 'core'."""
    parts = module.split(".")
    if len(parts) < 2:
        return "core"
    return parts[1] if parts[1] in RANKS else "core"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("edgezoo"):
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "edgezoo"]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.startswith("edgezoo")]
    return names


MODULES = sorted(SRC.rglob("*.py"))


def test_every_stage_is_ranked() -> None:
    packages = {p.parent.name for p in SRC.glob("*/__init__.py")} - {"cards", "configs"}
    assert packages - RANKS.keys() == set(), "a new stage package needs a rank here and in docs/architecture.md"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_down(path: Path) -> None:
    own = _stage(_module_name(path))
    upward = [
        name
        for name in _imports(path)
        if _stage(name) != own
        and (RANKS[_stage(name)] > RANKS[own] or (RANKS[_stage(name)] == RANKS[own] and own != "core"))
    ]
    assert upward == [], f"{path.relative_to(SRC)} ({own}) imports up or across the pipeline: {upward}"


def test_the_checker_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from edgezoo.quantize.api import quantize_artifact\nimport edgezoo.bench\n")
    assert [_stage(n) for n in _imports(bad)] == ["quantize", "bench"]
    assert RANKS["quantize"] > RANKS["runtime"]
