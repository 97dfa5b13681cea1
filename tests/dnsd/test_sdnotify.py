"""systemd integration of a real `dnsd serve`: READY=1 only after every source's first sync
(NOTIFY_SOCKET as a path and as an abstract '@' name), STOPPING=1 on SIGTERM, and SIGHUP
re-reading records files (the unit's ExecReload)."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.rcode
import pytest

from dnsd.ops.sdnotify import Notifier, socket_address
from tests.docker_support import require_engine
from tests.serve_process import Served, dnsd_serve


@pytest.fixture
def abstract_listener() -> Iterator[tuple[str, socket.socket]]:
    name = f"@dnsd-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(socket_address(name))
        yield name, sock


@pytest.fixture
def path_listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        yield path, sock


def pending(sock: socket.socket) -> list[str]:
    """Every datagram waiting on `sock`, without blocking."""
    found = []
    sock.setblocking(False)
    try:
        while True:
            found.append(sock.recv(4096).decode())
    except BlockingIOError:
        return found
    finally:
        sock.setblocking(True)


def receive_until(sock: socket.socket, field: str, timeout: float = 30.0) -> list[str]:
    """Datagrams up to and including the first with line `field`."""
    sock.settimeout(timeout)
    seen = []
    while True:
        message = sock.recv(4096).decode()
        seen.append(message)
        if field in message.splitlines():
            return seen


def ready(served: Served) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{served.http_port}/ready", timeout=5) as r:
            json.load(r)
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def wait_for(check: Callable[[], object], what: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            pytest.fail(f"not within {timeout}s: {what}")
        time.sleep(0.05)


@pytest.mark.docker
def test_ready_only_after_the_docker_source_has_synced(
    abstract_listener: tuple[str, socket.socket], tmp_path: Path
) -> None:
    require_engine()
    name, listener = abstract_listener
    docker_sock = tmp_path / "docker.sock"  # absent at first: the Docker source cannot sync
    args = ["--docker-url", f"unix://{docker_sock}"]
    with dnsd_serve(args, tmp_path, http=True, env={"NOTIFY_SOCKET": name}) as served:
        wait_for(lambda: "cannot reach the Docker engine" in served.log(), "a failed sync")
        assert ready(served) == 503
        before = pending(listener)
        assert not any("READY=1" in m.splitlines() for m in before), before
        assert any("waiting for the first sync of docker" in m for m in before), before
        docker_sock.symlink_to("/var/run/docker.sock")  # now the engine is reachable
        messages = receive_until(listener, "READY=1")
        assert ready(served) == 200  # READY=1 came after the sync, never before
        assert "STATUS=serving on udp 127.0.0.1:" in messages[-1]
        assert "synced: docker" in messages[-1]
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=10) == 0, served.log()
        assert "STOPPING=1" in receive_until(listener, "STOPPING=1", 5)[-1]


def test_ready_after_records_and_sighup_rereads_them(
    path_listener: tuple[str, socket.socket], tmp_path: Path
) -> None:
    path, listener = path_listener
    records = tmp_path / "records.hosts"
    records.write_text("10.0.0.1 web\n")
    args = ["--no-docker", "--records", str(records)]
    with dnsd_serve(args, tmp_path, env={"NOTIFY_SOCKET": path}) as served:
        message = receive_until(listener, "READY=1")[-1]
        assert f"synced: file:{records}" in message
        assert [rr.address for rr in served.query("web.docker.").answer[0]] == ["10.0.0.1"]
        # Same size, same mtime, same inode: polling cannot see this edit, SIGHUP must.
        before = os.stat(records)
        with records.open("r+") as handle:
            handle.write("10.0.0.2 web\n")
        os.utime(records, ns=(before.st_atime_ns, before.st_mtime_ns))
        after = os.stat(records)
        assert (after.st_mtime_ns, after.st_size, after.st_ino) == (
            before.st_mtime_ns,
            before.st_size,
            before.st_ino,
        )
        time.sleep(1.0)  # five polls: still the old answer
        assert [rr.address for rr in served.query("web.docker.").answer[0]] == ["10.0.0.1"]
        served.process.send_signal(signal.SIGHUP)
        wait_for(
            lambda: [rr.address for rr in served.query("web.docker.").answer[0]] == ["10.0.0.2"],
            "the SIGHUP reload",
        )
        assert "SIGHUP: re-reading 1 records file(s)" in served.log()
        assert served.query("nothing.docker.").rcode() == dns.rcode.NXDOMAIN
        assert served.process.poll() is None  # SIGHUP does not stop dnsd


@pytest.mark.parametrize(
    ("value", "address"),
    [("@name", b"\0name"), ("/run/systemd/notify", "/run/systemd/notify")],
)
def test_socket_address(value: str, address: str | bytes) -> None:
    assert socket_address(value) == address


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier(None)
    assert not notifier.active
    assert notifier.ready("x") is False


def test_unreachable_notify_socket_is_not_fatal(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens"))
    assert not notifier.active
    assert notifier.stopping() is False
