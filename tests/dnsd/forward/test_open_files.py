"""Issue 9, item 12: with a low open-files limit and a black-holed upstream, a flood of
distinct forwarded names must not take the descriptors the listeners, TCP clients and the
HTTP API need. The real `dnsd serve` process runs under `prlimit` (soft 200, hard 300)."""

from __future__ import annotations

import os
import socket
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
from dnslib import DNSRecord

from tests.serve_process import dnsd_serve

SOFT, HARD = 200, 300
FLOOD = 3000


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open-files line")


def test_descriptors_kept_for_listeners_and_api_during_an_upstream_outage(
    tmp_path: Path,
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # an upstream that never answers
    silent.bind(("127.0.0.1", 0))
    upstream = f"127.0.0.1:{silent.getsockname()[1]}"
    prlimit = ["prlimit", f"--nofile={SOFT}:{HARD}", "--"]
    args = ["--no-docker", "--upstream", upstream, "--forward-deadline", "30",
            "--upstream-timeout", "10", "--tcp-max-connections", "32"]  # fmt: skip
    with dnsd_serve(args, tmp_path, http=True, wrapper=prlimit) as served:
        pid = served.process.pid
        assert open_files_limit(pid) == (HARD, HARD)  # the soft limit was raised at start
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(FLOOD):
            packet = DNSRecord.question(f"n{i}.outage.example", "A")
            flood.sendto(bytes(packet.pack()), (served.host, served.port))
        local = dns.message.make_query("docker.", "SOA")
        over_tcp = dns.query.tcp(local, served.host, port=served.port, timeout=5)
        over_udp = dns.query.udp(local, served.host, port=served.port, timeout=5)
        with urllib.request.urlopen(f"http://127.0.0.1:{served.http_port}/health", timeout=5) as r:
            health = r.status
        descriptors = len(os.listdir(f"/proc/{pid}/fd"))
        flood.close()
        log = served.log()
    silent.close()
    assert (over_tcp.rcode(), over_udp.rcode(), health) == (dns.rcode.NOERROR,) * 2 + (200,)
    assert descriptors < HARD - 32  # the cap kept room for TCP clients and the API
    assert "forwarding at most 138 queries at once" in log  # 300 - 162 kept for the rest
    assert "--forward-max-in-flight" in log  # the cap was hit, and the log says so
    assert "Too many open files" not in log
