"""dnsd as a user gets it from `pip install .`: fresh virtual environments of this source tree.

`build(workdir)` copies the tree (without its venv, build output or compiled extension, so
nothing built for the development venv leaks in), makes two venvs with the Python running
the benchmark and installs the copy into each with plain `pip install` (no extras): one as
is, one with `CC=false` so the optional C extension cannot build, as on a machine without a
compiler. Returns how to run dnsd from each (its console script, so the source tree is not
on sys.path). Builds only; starts no server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.plan import ROOT

BUILD_TIMEOUT_S = 600
_SKIP = shutil.ignore_patterns(
    ".venv",
    ".git",
    ".team",
    ".hypothesis",
    "build",
    "dist",
    "*.egg-info",
    "*.so",
    "__pycache__",
    "results",
    ".*_cache",
)
PROBE = "import importlib.util as u; print(u.find_spec('dnsd.serve._mmsg') is not None)"


@dataclass(frozen=True)
class Install:
    label: str  # row label, e.g. "dnsd (pip install .)"
    command: tuple[str, ...]  # argv prefix that runs dnsd
    c_extension: bool  # whether dnsd.serve._mmsg was built


def _venv(src: Path, target: Path, env: dict[str, str]) -> tuple[str, ...]:
    subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, timeout=120)
    pip = [str(target / "bin" / "python"), "-m", "pip", "install", "-q", "--no-cache-dir"]
    done = subprocess.run(
        [*pip, str(src)], env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    if done.returncode != 0:
        raise RuntimeError(f"pip install {src} failed: {done.stderr.strip()[-500:]}")
    return (str(target / "bin" / "dnsd"),)


def _has_extension(target: Path) -> bool:
    done = subprocess.run(
        [str(target / "bin" / "python"), "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=target,
    )
    return done.stdout.strip() == "True"


def build(workdir: Path) -> list[Install]:
    """Both venvs under `workdir` (removed with it); about 30 s each."""
    src = workdir / "src"
    shutil.copytree(ROOT, src, ignore=_SKIP)
    installs = []
    for name, label, extra_env in (
        ("venv-default", "dnsd (pip install .)", {}),
        ("venv-no-c", "dnsd (pip install ., no compiler)", {"CC": "false"}),
    ):
        target = workdir / name
        command = _venv(src, target, {**os.environ, **extra_env})
        shutil.rmtree(src / "build", ignore_errors=True)  # the next install compiles afresh
        installs.append(Install(label, command, _has_extension(target)))
    return installs
