"""The image's build context and user: `.dockerignore` keeps .venv, .git and caches out of the
context docker-compose.yml sends (its `context: ..` is the repository root), and
compose/Dockerfile makes dnsd run as the non-root user `dnsd`.

CI cannot pull python:3.11-slim, so the context is checked with the real engine through a
throwaway image built FROM the local busybox test image with the same context.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.docker_support import build_test_image, docker, require_engine

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "compose" / "Dockerfile"


def test_compose_builds_from_the_repository_root() -> None:
    text = (ROOT / "compose" / "docker-compose.yml").read_text()
    assert re.search(r"build:\n\s+context: \.\.\n\s+dockerfile: compose/Dockerfile", text)
    assert (ROOT / ".dockerignore").is_file()


def test_dockerfile_makes_dnsd_drop_to_a_non_root_user() -> None:
    text = DOCKERFILE.read_text()
    created = re.search(r"useradd --system --uid (\d+) .*\n?.* dnsd\n", text)
    assert created is not None and int(created.group(1)) != 0
    assert re.search(r"^ENV DNSD_USER=dnsd$", text, re.M)
    assert not re.search(r"^USER (root|0)\b", text, re.M)


@pytest.mark.docker
def test_build_context_excludes_venv_git_and_caches() -> None:
    require_engine()
    base = build_test_image()
    (ROOT / "dnsd" / "__pycache__").mkdir(exist_ok=True)  # present in any used checkout
    tag = f"dnsdtest-{uuid.uuid4().hex[:8]}-context:latest"
    dockerfile = f"FROM {base}\nCOPY . /ctx\n"
    try:
        subprocess.run(
            ["docker", "build", "-q", "-t", tag, "-f", "-", str(ROOT)],
            input=dockerfile,
            text=True,
            capture_output=True,
            check=True,
            timeout=300,
        )
        listing = docker(
            "run", "--rm", "--network", "none", tag, "busybox", "find", "/ctx"
        ).splitlines()
    finally:
        docker("rmi", "-f", tag, check=False)
    sent = {path.removeprefix("/ctx/") for path in listing}
    for needed in ("pyproject.toml", "README.md", "dnsd/app.py", "registry", "watchers"):
        assert needed in sent
    assert "compose/entrypoint.sh" in sent
    for kept_out in (".venv", ".git", "tests", "bench"):
        assert kept_out not in sent
    assert not [p for p in sent if "__pycache__" in p or p.endswith(".pyc")]
    # Everything the Dockerfile copies is in the context.
    for source in re.findall(r"^COPY (.+) \S+$", DOCKERFILE.read_text(), re.M):
        for path in source.split():
            assert path in sent, f"the context lacks {path}, which the Dockerfile copies"


def test_docker_sdk_context_is_the_same_allowlist() -> None:
    """docker-compose 1.29 builds its context tarball with the Docker SDK's exclude_paths."""
    from docker.utils.build import exclude_paths

    lines = (ROOT / ".dockerignore").read_text().splitlines()
    patterns = [line for line in lines if line and not line.startswith("#")]
    included = set(exclude_paths(str(ROOT), patterns))
    tops = {path.split("/", 1)[0] for path in included}
    assert tops == {
        ".dockerignore",
        "README.md",
        "compose",
        "dnsd",
        "pyproject.toml",
        "registry",
        "watchers",
    }
    assert {p for p in included if p.startswith("compose/")} == {"compose/entrypoint.sh"}
    assert not [p for p in included if "__pycache__" in p or p.endswith(".pyc")]
