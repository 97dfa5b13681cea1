"""The dependency rule: registry imports none of ours; watchers only registry; dnsd not watchers
(except the composition root)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"dnsd", "registry", "watchers"}
ALLOWED = {
    "registry": set(),
    "watchers": {"registry", "watchers"},
    "dnsd": {"dnsd", "registry"},
}
COMPOSITION_ROOT = ROOT / "dnsd" / "app.py"


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_follow_the_dependency_rule(package: str) -> None:
    offenders = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        if path == COMPOSITION_ROOT:
            continue
        extra = imported_packages(path) - ALLOWED[package] - {package}
        if extra:
            offenders[str(path.relative_to(ROOT))] = sorted(extra)
    assert offenders == {}


def test_registry_does_no_io() -> None:
    banned = {"socket", "asyncio", "logging", "os", "subprocess", "docker", "aiohttp"}
    for path in (ROOT / "registry").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not names & banned, f"{path.name} imports {sorted(names & banned)}"
