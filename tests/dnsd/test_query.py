"""`dnsd query` as a user runs it: which server it asks by default, and `-x` reverse lookups.

Against the real `dnsd serve` on a loopback port with a records file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serve_process import Served, dnsd_serve


def dnsd(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    return subprocess.run(
        [sys.executable, "-m", "dnsd", *argv],
        capture_output=True, text=True, timeout=60, env={**environ, **(env or {})},
    )  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    records = tmp_path / "records.hosts"
    records.write_text("10.20.0.1 legacy\n")
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path, http=True) as server:
        yield server


def test_the_server_comes_from_dnsd_dns_listen(served: Served) -> None:
    result = dnsd("query", "legacy.docker", env={"DNSD_DNS_LISTEN": f"127.0.0.1:{served.port}"})
    assert result.returncode == 0, result.stderr
    assert "10.20.0.1" in result.stdout
    assert f";; SERVER: 127.0.0.1#{served.port}" in result.stdout


def test_the_server_comes_from_the_running_servers_api(served: Served) -> None:
    api = f"http://127.0.0.1:{served.http_port}"
    result = dnsd("query", "legacy.docker", env={"DNSD_API": api})
    assert result.returncode == 0, result.stderr
    assert f";; SERVER: 127.0.0.1#{served.port}" in result.stdout
    assert "10.20.0.1" in result.stdout


@pytest.mark.parametrize(
    "argv",
    [["-x", "10.20.0.1"], ["-x", "10.20.0.1", "PTR"], ["10.20.0.1", "PTR"]],
    ids=["-x", "-x-with-type", "address-as-ptr"],
)
def test_reverse_lookups(served: Served, argv: list[str]) -> None:
    result = dnsd("query", *argv, "--server", f"127.0.0.1:{served.port}")
    assert result.returncode == 0, result.stderr
    assert "1.0.20.10.in-addr.arpa." in result.stdout
    assert "PTR     legacy.docker." in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-x", "legacy"], "-x 'legacy': expected an IPv4 or IPv6 address"),
        ([], "give a NAME, or -x ADDRESS"),
    ],
)
def test_bad_questions_exit_2(argv: list[str], message: str) -> None:
    result = dnsd("query", *argv, "--server", "127.0.0.1:9")
    assert result.returncode == 2
    assert message in result.stderr
