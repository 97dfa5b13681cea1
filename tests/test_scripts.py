"""scripts/: `scripts/venv` does not reinstall what is already installed; `scripts/compose`
finds whichever Compose is installed."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def fake_checkout(tmp_path: Path, installed: str) -> Path:
    """A copy of scripts/venv and pyproject.toml with a .venv whose pip only logs its calls."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "venv", tmp_path / "scripts" / "venv")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for tool, body in (("python", "exit 0"), ("pip", 'echo "$@" >> "$(dirname "$0")/../pip.log"')):
        (bin_dir / tool).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / tool).chmod(0o755)
    digest = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    (tmp_path / ".venv" / f".installed-{installed}-{digest}").touch()
    return tmp_path


def pip_calls(checkout: Path, extras: str) -> str:
    subprocess.run([str(checkout / "scripts" / "venv"), extras], check=True, timeout=60)
    log = checkout / ".venv" / "pip.log"
    return log.read_text() if log.exists() else ""


def test_serve_after_test_does_not_reinstall(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path, "fast,test")  # what scripts/test installs
    assert pip_calls(checkout, "fast") == ""  # what scripts/serve asks for
    assert pip_calls(checkout, "test,fast") == ""


def test_missing_extras_are_installed(tmp_path: Path) -> None:
    checkout = fake_checkout(tmp_path, "fast")
    assert "install -q -e .[fast,test]" in pip_calls(checkout, "fast,test")


def test_compose_wrapper_names_what_to_install(tmp_path: Path) -> None:
    """With neither Compose on PATH the wrapper says what to install and fails."""
    shim = tmp_path / "docker"
    shim.write_text("#!/bin/sh\nexit 1\n")  # a docker CLI without the compose plugin
    shim.chmod(0o755)
    bash = shutil.which("bash")
    assert bash is not None
    (tmp_path / "bash").symlink_to(bash)  # PATH holds only bash and the shim
    result = subprocess.run(
        [str(ROOT / "scripts" / "compose"), "version"],
        capture_output=True, text=True, timeout=30,
        env={"PATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 1
    assert "apt-get install -y docker-compose" in result.stderr


def test_compose_wrapper_runs_the_installed_compose() -> None:
    if shutil.which("docker-compose") is None and shutil.which("docker") is None:
        return
    result = subprocess.run(
        [str(ROOT / "scripts" / "compose"), "version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "version" in result.stdout.lower()
