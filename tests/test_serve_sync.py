"""Issue 9 item 14 end to end: `dnsd serve` does not deny names before its sources have synced."""

from __future__ import annotations

import time
from pathlib import Path

import dns.flags
import dns.rcode

from tests.serve_process import Served, dnsd_serve


def wait_answered(served: Served, name: str) -> None:
    end = time.monotonic() + 20
    while served.query(name).rcode() != dns.rcode.NOERROR:
        assert time.monotonic() < end, served.log()
        time.sleep(0.05)


def test_unknown_names_get_servfail_while_docker_has_never_synced(tmp_path: Path) -> None:
    records = tmp_path / "records.hosts"
    records.write_text("10.0.0.10 web\n")
    nope = f"unix://{tmp_path}/nope.sock"  # no engine: the docker source never syncs
    with dnsd_serve(["--docker-url", nope, "--records", str(records)], tmp_path) as served:
        wait_answered(served, "web.docker.")
        for _ in range(3):
            reply = served.query("not-yet-known.docker.")
            assert reply.rcode() == dns.rcode.SERVFAIL, served.log()
            assert not reply.flags & dns.flags.AA
        over_tcp = served.query("not-yet-known.docker.", tcp=True)
        assert over_tcp.rcode() == dns.rcode.SERVFAIL


def test_without_docker_unknown_names_are_nxdomain_once_the_file_is_read(tmp_path: Path) -> None:
    records = tmp_path / "records.hosts"
    records.write_text("10.0.0.10 web\n")
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path) as served:
        wait_answered(served, "web.docker.")
        reply = served.query("not-there.docker.")
        assert reply.rcode() == dns.rcode.NXDOMAIN and reply.flags & dns.flags.AA
