"""`dnsd serve` that cannot bind: one line with the errno, who holds the port, the fix; exit 2."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from tests.serve_process import free_port


def serve(listen: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    return subprocess.run(
        [sys.executable, "-m", "dnsd", "serve", "--no-docker", "--http-listen", "off",
         "--upstream", f"127.0.0.1:{free_port()}", "--dns-listen", listen],
        capture_output=True, text=True, timeout=30, env=environ,
    )  # fmt: skip


def process_name() -> str:
    with open(f"/proc/{os.getpid()}/comm") as comm:
        return comm.read().strip()


def errors(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if " ERROR " in line]


def test_port_in_use_names_the_errno_and_the_holder() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        result = serve(f"127.0.0.1:{port}")
    assert result.returncode == 2
    [line] = errors(result)
    assert f"cannot listen on udp 127.0.0.1:{port}: " in line
    assert "(EADDRINUSE)" in line
    assert f"held by {process_name()} (pid {os.getpid()})" in line
    assert line.endswith("stop it or pick another --dns-listen")


def test_an_address_not_on_this_host_says_so() -> None:
    result = serve("192.0.2.53:5353")  # TEST-NET-1: on no interface here
    assert result.returncode == 2
    [line] = errors(result)
    assert "cannot listen on udp 192.0.2.53:5353: " in line
    assert "(EADDRNOTAVAIL)" in line
    assert "192.0.2.53 is not an address of this host" in line


def test_tcp_port_in_use_is_reported_for_tcp() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = serve(f"127.0.0.1:{port}")
    assert result.returncode == 2
    [line] = errors(result)
    assert f"cannot listen on tcp 127.0.0.1:{port}: " in line and "(EADDRINUSE)" in line
    assert f"(pid {os.getpid()})" in line
