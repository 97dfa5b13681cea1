"""The dependency rule: registry imports none of ours; watchers only registry; dnsd not watchers
(except the composition root). Inside dnsd, the layers of `dnsd/README.md`: imports point down
only, there is no import cycle, and the pure core does no I/O. `dnsd serve` loads only what
serving needs before DNS answers and the watchers start."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
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

# Inside dnsd: what each part may import (module prefixes; the part itself is always allowed).
# Bottom to top: core (pure) -> the metrics counters (a leaf) -> forward (only the core's byte
# helpers) -> serve -> ops -> the process. `parsers` (text <-> values such as host:port) and
# `config` are read by every layer that is handed a Config.
SETTINGS = ("dnsd.config", "dnsd.flags", "dnsd.parsers")
LAYERS: dict[str, tuple[str, ...]] = {
    "dnsd.core": ("registry",),
    "dnsd.ops.metrics": (),
    "dnsd.forward": ("registry.view", "dnsd.core.packet", "dnsd.ops.metrics", "dnsd.parsers"),
    "dnsd.serve": ("registry", "dnsd.core", "dnsd.ops.metrics", *SETTINGS),
    "dnsd.ops": ("dnsd", "registry", "dnsd.core", *SETTINGS),
    "dnsd.parsers": ("registry",),
    "dnsd.flags": ("registry", "dnsd.parsers"),
    "dnsd.config": ("registry", "dnsd.flags", "dnsd.parsers"),
    "dnsd.client": SETTINGS,
    "dnsd.query": ("dnsd.client", *SETTINGS),
    "dnsd.events_cli": ("dnsd.client", "dnsd.ops.times", *SETTINGS),
    "dnsd.hostdns": ("dnsd.forward.resolvconf", *SETTINGS),
    "dnsd.privileges": (),
    "dnsd.cli": (
        "dnsd",
        "dnsd.client",
        "dnsd.query",
        "dnsd.events_cli",
        "dnsd.hostdns",
        "dnsd.app",
        "dnsd.eventloop",
        "dnsd.ops.logs",
        *SETTINGS,
    ),
    "dnsd.eventloop": (),
    "dnsd.workers": (
        "registry",
        "dnsd.serve",
        "dnsd.forward",
        "dnsd.ops.logs",
        "dnsd.ops.metrics",
        "dnsd.eventloop",
        *SETTINGS,
    ),
}
CORE_BANNED = {
    "asyncio", "socket", "logging", "selectors", "subprocess", "os", "time", "aiohttp", "docker",
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports (type-checking imports included), as dotted names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from dnsd.core import wire` imports dnsd.core.wire
                child = f"{node.module}.{alias.name}"
                is_module = (ROOT / Path(*child.split("."))).with_suffix(".py").exists()
                found.add(child if is_module else node.module)
    return found


def imported_packages(path: Path) -> set[str]:
    return {name.split(".")[0] for name in imports_of(path)} & OURS


def dnsd_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted((ROOT / "dnsd").rglob("*.py"))}


def within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def layer_of(module: str) -> str | None:
    matches = [prefix for prefix in LAYERS if within(module, prefix)]
    return max(matches, key=len) if matches else None


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


def test_every_dnsd_module_belongs_to_a_layer() -> None:
    unlayered = {"dnsd", "dnsd.__main__", "dnsd.app"}  # the package root and the process
    assert [m for m in dnsd_modules() if layer_of(m) is None and m not in unlayered] == []


@pytest.mark.parametrize("module", sorted(dnsd_modules()))
def test_dnsd_imports_point_down_the_layers(module: str) -> None:
    layer = layer_of(module)
    if layer is None:
        return  # the package root, `__main__` and the composition root may import anything
    allowed = (layer, *LAYERS[layer])
    ours = {name for name in imports_of(dnsd_modules()[module]) if name.split(".")[0] in OURS}
    wrong = sorted(
        name
        for name in ours
        if not any(within(name, prefix) for prefix in allowed if prefix != "dnsd")
        and not ("dnsd" in allowed and name == "dnsd")
    )
    assert wrong == [], f"{module} ({layer}) may import only {sorted(allowed)}"


def test_dnsd_has_no_import_cycle() -> None:
    modules = dnsd_modules()
    graph = {
        name: {other for other in imports_of(path) if other in modules and other != name}
        for name, path in modules.items()
    }
    done: set[str] = set()

    def visit(name: str, trail: tuple[str, ...]) -> None:
        assert name not in trail, " -> ".join((*trail[trail.index(name) :], name))
        if name in done:
            return
        for other in sorted(graph[name]):
            visit(other, (*trail, name))
        done.add(name)

    for name in sorted(graph):
        visit(name, ())


def test_the_dns_core_does_no_io() -> None:
    for path in sorted((ROOT / "dnsd" / "core").rglob("*.py")):
        roots = {name.split(".")[0] for name in imports_of(path)}
        assert not roots & CORE_BANNED, f"{path.name} imports {sorted(roots & CORE_BANNED)}"


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


# What `dnsd serve` has loaded once its App is built, just before DNS is bound: the command
# line, the settings and every part it runs, nothing for other commands or unused features.
SERVE_START = """
import sys
from dnsd.app import App, listen_addresses
from dnsd.cli import build_parser
from dnsd.config import load
args = build_parser().parse_args(sys.argv[1:])
config = load(args)
App(config, listen_addresses(config))
print("\\n".join(sorted(sys.modules)))
"""
NOT_AT_START = {
    "aiohttp": "the HTTP API's server loads when the API starts, once DNS is bound",
    "dnsd.ops.http_api": "the same",
    "dnsd.ops.events_api": "the same",
    "docker": "the Docker SDK only with Docker enabled",
    "requests": "the same",
    "watchers.docker_watcher": "the same",
    "watchers.swarm_watcher": "the same",
    "urllib.request": "the HTTP client of `dnsd ls/explain/events` only when they run",
    "http.client": "the same",
    "email": "the same",
}


def serve_start_modules(*flags: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    argv = ["serve", "--dns-listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", *flags]
    out = subprocess.run(
        [sys.executable, "-c", SERVE_START, *argv],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    return set(out.split())


@pytest.mark.parametrize(
    "flags",
    [
        ("--no-docker",),
        ("--no-docker", "--http-listen", "127.0.0.1:0"),
        ("--no-docker", "--cluster-etcd", "http://127.0.0.1:9", "--advertise-ip", "127.0.0.1"),
    ],
)
def test_serve_starts_without_what_it_does_not_use_yet(flags: tuple[str, ...]) -> None:
    modules = serve_start_modules(*flags)
    assert "dnsd.serve.listeners" in modules  # the probe sees what serving loads
    loaded = {m: why for m, why in NOT_AT_START.items() if m in modules}
    assert loaded == {}


def test_serve_with_docker_loads_the_docker_sdk() -> None:
    assert {"docker", "watchers.docker_watcher"} <= serve_start_modules("--docker")
