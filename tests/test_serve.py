"""The real `dnsd serve` process: static records over UDP and TCP, live reload, clean exit."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from tests.serve_process import Served, dnsd_serve

RECORDS = """\
10.0.0.10 web
10.0.0.11 web
10.0.0.20 db db.internal
fd00::10 web
"""


def addresses(message: object) -> list[str]:
    return [r.to_text() for rrset in message.answer for r in rrset]  # type: ignore[attr-defined]


def http_get(served: Served, path: str) -> tuple[int, Any]:
    url = f"http://127.0.0.1:{served.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def watcher(served: Served, source_prefix: str) -> dict[str, Any]:
    _, health = http_get(served, "/health")
    found = [w for w in health["watchers"] if w["source"].startswith(source_prefix)]
    assert len(found) == 1, health
    return dict(found[0])


def wait_for(check: Callable[[], bool], served: Served, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, f"not within {timeout}s; dnsd log:\n{served.log()}"
        time.sleep(0.05)


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


def test_deleted_records_file_keeps_serving_then_reloads(records: Path, tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path, http=True) as served:
        records.unlink()
        wait_for(lambda: watcher(served, "file:")["state"] == "backing-off", served)
        assert "No such file" in watcher(served, "file:")["last_error"]
        assert sorted(addresses(served.query("web.docker."))) == ["10.0.0.10", "10.0.0.11"]
        records.write_text("10.0.0.40 back\n")
        wait_for(lambda: addresses(served.query("back.docker.")) == ["10.0.0.40"], served)
        assert served.query("web.docker.").rcode() == dns.rcode.NXDOMAIN


def test_docker_unreachable_serves_records_and_stops_with_queries_in_flight(
    records: Path, tmp_path: Path
) -> None:
    with socket.socket(
        socket.AF_INET, socket.SOCK_DGRAM
    ) as silent:  # an upstream that never answers
        silent.bind(("127.0.0.1", 0))
        upstream = f"127.0.0.1:{silent.getsockname()[1]}"
        nope = f"unix://{tmp_path}/nope.sock"
        args = ["--docker-url", nope, "--records", str(records), "--upstream", upstream]
        with dnsd_serve(args, tmp_path, http=True) as served:
            assert sorted(addresses(served.query("web.docker."))) == ["10.0.0.10", "10.0.0.11"]
            wait_for(lambda: watcher(served, "docker")["state"] == "backing-off", served)
            assert (
                f"cannot reach the Docker engine at {nope}"
                in watcher(served, "docker")["last_error"]
            )
            assert http_get(served, "/health")[0] == 200
            assert http_get(served, "/ready") == (503, {"ready": False, "waiting_for": ["docker"]})
            clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(10)]
            for i, client in enumerate(clients):
                query = dns.message.make_query(f"pending{i}.example.", "A").to_wire()
                client.sendto(query, (served.host, served.port))
            silent.settimeout(5)
            silent.recv(512)  # the forwarder is now waiting for the upstream
            sent = time.monotonic()
            served.process.send_signal(signal.SIGTERM)
            assert served.process.wait(timeout=5) == 0, served.log()
            assert time.monotonic() - sent < 2.0, "shutdown took longer than 2 s"
            for client in clients:
                client.close()


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
