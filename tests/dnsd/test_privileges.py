"""Least privilege, observed from outside: a real `dnsd serve` bound to port 53 on loopback,
then /proc/<pid>/status of every thread. The expected values are the README's table
("Least privilege"). Needs root (to bind port 53 and to switch users)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import dns.rcode
import pytest

from dnsd.config import ConfigError, parse_serve_args
from dnsd.privileges import PrivilegeError, account_for, socket_gid
from tests.docker_support import DockerLab, ip_on, lab, test_image

__all__ = ["lab", "test_image"]  # fixtures: the real Docker engine
from tests.serve_process import Served, dnsd_serve

NOBODY = "nobody"
CAP_NET_BIND_SERVICE = 1 << 10
NO_CAPS = "0000000000000000"


@pytest.fixture
def root() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("these tests need root (port 53, switching users)")
        pytest.skip("needs root")


@pytest.fixture
def port53_host(root: None) -> str:
    """A loopback address of our own (127.x.y.z) whose port 53 is free for UDP and TCP."""
    for _ in range(50):
        host = f"127.{random.randint(60, 250)}.{random.randint(0, 255)}.{random.randint(2, 250)}"
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.bind((host, 53))
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                    tcp.bind((host, 53))
        except OSError:
            continue
        return host
    raise RuntimeError("no free loopback port 53")


def thread_status(pid: int) -> Iterator[dict[str, str]]:
    """The status fields of every thread of `pid` (the main thread first)."""
    tasks = sorted(Path(f"/proc/{pid}/task").iterdir(), key=lambda p: p.name != str(pid))
    for task in tasks:
        fields = {}
        for line in (task / "status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = " ".join(value.split())
        yield fields


def wait_for_log(served: Served, text: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while text not in served.log():
        if time.monotonic() > end or served.process.poll() is not None:
            pytest.fail(f"dnsd never logged {text!r}:\n{served.log()}")
        time.sleep(0.05)


def health(served: Served) -> dict[str, object]:
    url = f"http://127.0.0.1:{served.http_port}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        data: dict[str, object] = json.load(response)
    return data


@pytest.mark.docker
def test_user_drops_root_after_binding_port_53(
    port53_host: str, lab: DockerLab, tmp_path: Path
) -> None:
    nobody_gid = 65534
    docker_gid = os.stat("/var/run/docker.sock").st_gid
    ids = f"{nobody_gid} {nobody_gid} {nobody_gid} {nobody_gid}"
    expected_main = {  # the README's table, main thread
        "Uid": ids,
        "Gid": ids,
        "Groups": " ".join(str(g) for g in sorted({nobody_gid, docker_gid})),
        "CapInh": NO_CAPS,
        "CapPrm": NO_CAPS,
        "CapEff": NO_CAPS,
        "CapBnd": NO_CAPS,
        "CapAmb": NO_CAPS,
        "NoNewPrivs": "1",
    }
    args = ["--user", NOBODY]
    with dnsd_serve(args, tmp_path, host=port53_host, port=53, http=True) as served:
        wait_for_log(served, "dropped privileges to nobody")
        statuses = list(thread_status(served.process.pid))
        main = statuses[0]
        assert {key: main[key] for key in expected_main} == expected_main
        for other in statuses[1:]:  # threads started while binding (uvloop's resolver pool)
            for key in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapAmb"):
                assert other[key] == expected_main[key], (key, other)
            assert other["NoNewPrivs"] == "1"
            assert int(other["CapBnd"], 16) & ~0x5C0 == 0  # at most setgid/setuid/setpcap/bind
        # DNS still answers, and Docker events still arrive over the socket (via its group).
        name = lab.run("priv", "--network", lab.network("privnet"))
        address = ip_on(name, lab.networks[-1])
        end = time.monotonic() + 20
        while time.monotonic() < end:
            reply = served.query(f"{name}.docker.")
            if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                break
            time.sleep(0.1)
        assert [rr.address for rr in reply.answer[0]] == [address], served.log()
        watchers = health(served)["watchers"]
        assert isinstance(watchers, list)
        assert watchers[0]["source"] == "docker" and watchers[0]["state"] == "connected"


def test_unprivileged_with_cap_net_bind_service_clears_it_after_binding(
    port53_host: str, tmp_path: Path
) -> None:
    """As systemd starts it (AmbientCapabilities=CAP_NET_BIND_SERVICE), via setpriv."""
    setpriv = [
        "setpriv",
        f"--reuid={NOBODY}",
        "--regid=nogroup",
        "--clear-groups",
        "--inh-caps=+net_bind_service",
        "--ambient-caps=+net_bind_service",
    ]
    args = ["--no-docker"]
    with dnsd_serve(args, tmp_path, host=port53_host, port=53, wrapper=setpriv) as served:
        wait_for_log(served, "all capabilities cleared after binding")
        statuses = list(thread_status(served.process.pid))
        main = statuses[0]
        assert main["Uid"] == "65534 65534 65534 65534"
        for key in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
            assert main[key] == NO_CAPS, (key, main)
        assert main["NoNewPrivs"] == "1"
        for other in statuses[1:]:  # uvloop's resolver threads, started before the clear
            assert int(other["CapEff"], 16) & ~CAP_NET_BIND_SERVICE == 0
            assert other["NoNewPrivs"] == "1"
        assert served.query("1.0.0.127.in-addr.arpa.", "PTR").rcode() == dns.rcode.NXDOMAIN


def test_user_without_root_is_an_error(root: None, tmp_path: Path) -> None:
    setpriv = ["setpriv", f"--reuid={NOBODY}", "--regid=nogroup", "--clear-groups"]
    serve = [sys.executable, "-m", "dnsd", "serve", "--no-docker", "--http-listen", "off"]
    flags = ["--dns-listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--user", "root"]
    done = subprocess.run(
        [*setpriv, *serve, *flags],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert "--user 'root': dnsd is not running as root (uid 65534)" in done.stderr


def test_unknown_user_is_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_serve_args(["--user", "no-such-user-dnsd"])
    assert str(raised.value) == (
        "--user 'no-such-user-dnsd': expected the name or uid of a user on this host"
    )
    with pytest.raises(ConfigError, match="DNSD_USER"):
        parse_serve_args([], {"DNSD_USER": "no-such-user-dnsd"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("tcp://127.0.0.1:2375", ()),
        ("ssh://user@host", ()),
        ("unix:///nonexistent/docker.sock", ()),
    ],
)
def test_socket_group_only_for_a_unix_socket_that_exists(url: str, expected: tuple[int]) -> None:
    assert socket_gid(url) == expected


def test_socket_group_of_a_unix_socket(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(path))
        assert socket_gid(f"unix://{path}") == (os.stat(path).st_gid,)


def test_account_keeps_the_users_groups_and_adds_the_socket_group() -> None:
    account = account_for(NOBODY, (4242,))
    assert (account.name, account.uid, account.gid) == ("nobody", 65534, 65534)
    assert account.groups == (4242, 65534)
    assert account_for("65534") == account_for(NOBODY)
    with pytest.raises(PrivilegeError, match="no such user"):
        account_for("no-such-user-dnsd")
