"""packaging/dnsd.service: the directives the README promises, and `systemd-analyze verify`
accepts the unit (with ExecStart pointed at this checkout's dnsd; systemd is not started)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "packaging" / "dnsd.service"


def directives(text: str) -> set[tuple[str, str, str]]:
    """(section, key, value) for every active line of a unit file."""
    found, section = set(), ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.add((section, key, value))
    return found


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("Service", "Type", "notify"),
        ("Service", "NotifyAccess", "main"),
        ("Service", "ExecStart", "/usr/local/bin/dnsd serve"),
        ("Service", "ExecReload", "/bin/kill -HUP $MAINPID"),
        ("Service", "Restart", "always"),
        ("Service", "DynamicUser", "yes"),
        ("Service", "SupplementaryGroups", "docker"),
        ("Service", "AmbientCapabilities", "CAP_NET_BIND_SERVICE"),
        ("Service", "CapabilityBoundingSet", "CAP_NET_BIND_SERVICE"),
        ("Service", "NoNewPrivileges", "yes"),
        ("Service", "ProtectSystem", "strict"),
        ("Install", "WantedBy", "multi-user.target"),
    ],
)
def test_unit_has(section: str, key: str, value: str) -> None:
    assert (section, key, value) in directives(UNIT.read_text())


def test_unit_runs_no_command_as_root_unless_commented() -> None:
    active = [d for d in directives(UNIT.read_text()) if d[2].startswith("+")]
    assert active == []  # the host-dns hooks stay opt-in


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        message = "systemd-analyze is missing (apt-get install -y systemd)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    dnsd = Path(sys.executable).parent / "dnsd"
    assert dnsd.exists(), "the venv's dnsd entry point"
    text = UNIT.read_text().replace("/usr/local/bin/dnsd", str(dnsd))
    unit = tmp_path / "dnsd.service"
    unit.write_text(text)
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    output = (done.stdout + done.stderr).strip()
    # verify only warns (exit 0) about unknown values: any line about our unit is a failure
    ours = [line for line in output.splitlines() if re.search(r"dnsd\.service", line)]
    assert done.returncode == 0 and ours == [], output


def test_verify_would_catch_a_broken_unit(tmp_path: Path) -> None:
    """The check above can fail: a typo in Type= is reported."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing")
    dnsd = Path(sys.executable).parent / "dnsd"
    text = UNIT.read_text().replace("/usr/local/bin/dnsd", str(dnsd))
    unit = tmp_path / "dnsd.service"
    unit.write_text(text.replace("Type=notify", "Type=notifyy"))
    done = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert "Failed to parse service type" in done.stdout + done.stderr
