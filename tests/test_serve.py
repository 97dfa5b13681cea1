"""The real `dnsd serve` process: static records over UDP and TCP, live reload, clean exit."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import dns.flags
import dns.rcode
import dns.rdatatype
import pytest

from tests.serve_process import dnsd_serve

RECORDS = """\
10.0.0.10 web
10.0.0.11 web
10.0.0.20 db db.internal
fd00::10 web
"""


def addresses(message: object) -> list[str]:
    return [r.to_text() for rrset in message.answer for r in rrset]  # type: ignore[attr-defined]


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.hosts"
    path.write_text(RECORDS)
    return path


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_static_records_answer(records: Path, tmp_path: Path, tcp: bool) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path) as served:
        reply = served.query("web.docker.", "A", tcp=tcp)
        assert reply.rcode() == dns.rcode.NOERROR
        assert reply.flags & dns.flags.AA
        assert sorted(addresses(reply)) == ["10.0.0.10", "10.0.0.11"]
        assert addresses(served.query("web.", "AAAA", tcp=tcp)) == ["fd00::10"]
        assert addresses(served.query("db.internal.", "A", tcp=tcp)) == ["10.0.0.20"]
        assert served.query("nope.docker.", "A", tcp=tcp).rcode() == dns.rcode.NXDOMAIN


def test_records_edit_shows_up_within_a_second(records: Path, tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path) as served:
        assert served.query("api.docker.").rcode() == dns.rcode.NXDOMAIN
        records.write_text(RECORDS + "10.0.0.30 api\n")
        written = time.monotonic()
        seen = None
        while time.monotonic() - written < 1.0:
            reply = served.query("api.docker.")
            if reply.rcode() == dns.rcode.NOERROR:
                seen = addresses(reply)
                break
            time.sleep(0.02)
        assert seen == ["10.0.0.30"], served.log()


def test_dig_sees_round_robin(records: Path, tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path) as served:
        firsts = set()
        for _ in range(4):
            out = subprocess.run(
                ["dig", "+short", "@127.0.0.1", "-p", str(served.port), "web.docker", "A"],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.split()
            assert sorted(out) == ["10.0.0.10", "10.0.0.11"]
            firsts.add(out[0])
        assert firsts == {"10.0.0.10", "10.0.0.11"}


def test_sigterm_exits_cleanly_and_quickly(records: Path, tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path) as served:
        sent = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=5) == 0
        assert time.monotonic() - sent < 2.0, "shutdown took longer than 2 s"


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker"], tmp_path) as served:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "dnsd",
                "serve",
                "--no-docker",
                "--http-listen",
                "off",
                "--dns-listen",
                f"127.0.0.1:{served.port}",
            ],
            capture_output=True,
            text=True,
            timeout=20,
        )
        assert result.returncode != 0
        assert f"127.0.0.1:{served.port}" in result.stderr + result.stdout
