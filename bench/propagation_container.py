"""Propagation as a client container sees it: `python -m bench.propagation --container`.

Runs `dnsd serve` on a new network's gateway:53 and a client container whose `--dns`
is that address, then polls from a UDP socket inside the client's network namespace
through Docker's resolver 127.0.0.11, as the container's own resolver would: the bare
name (Docker answers it until it forgets the container, then forwards to dnsd) and
`<name>.docker` (always dnsd). Counts stale answers seen after `docker stop` returned.
Root only (setns, port 53). Not a test; removes everything it made.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from dnslib import RCODE

from bench.propagation import CMD, DEADLINE, IMAGE, docker, free_port, rcode_of, wait_for

CLONE_NEWNET = 0x40000000
EMBEDDED_DNS = ("127.0.0.11", 53)


def socket_in_netns(pid: int) -> socket.socket:
    """A UDP socket that lives in process `pid`'s network namespace (made in a helper thread
    that enters it; the socket stays there when used from this thread)."""
    made: list[socket.socket] = []
    failure: list[BaseException] = []

    def enter() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
            try:
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns into the client container failed")
            finally:
                os.close(fd)
            made.append(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
        except BaseException as exc:  # reported to the caller
            failure.append(exc)

    thread = threading.Thread(target=enter)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return made[0]


@dataclass
class Seen:
    up: list[float] = field(default_factory=list)
    bare_gone: list[float] = field(default_factory=list)
    zone_gone: list[float] = field(default_factory=list)
    stale: int = 0  # answers with the old address after `docker stop` returned
    stale_runs: int = 0  # runs in which at least one such answer came


@contextlib.contextmanager
def client_network() -> Iterator[tuple[str, str, int]]:
    """A new network, `dnsd serve` on its gateway:53 (forwarding to a loopback dnsmasq that
    answers NXDOMAIN) and a client container using it as --dns; yields (network, gateway,
    client pid). Removes everything."""
    net = f"dnsdbench-{uuid.uuid4().hex[:8]}"
    docker("network", "create", net)
    client = f"{net}-client"
    server = upstream = None
    try:
        port = free_port()  # dnsmasq answering NXDOMAIN for everything: a stand-in upstream
        upstream = subprocess.Popen(
            ["dnsmasq", "-k", "--no-resolv", "--no-hosts", "-p", str(port), "--address=/#/",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--log-facility=/dev/null",
             "--pid-file=", "--user=root"], stdout=subprocess.DEVNULL,
        )  # fmt: skip
        ipam = subprocess.run(["docker", "network", "inspect", "-f", "{{json .IPAM.Config}}", net],
                              capture_output=True, text=True, check=True).stdout  # fmt: skip
        gateway = str(json.loads(ipam)[0]["Gateway"])
        argv = [sys.executable, "-m", "dnsd", "serve", "--dns-listen", f"{gateway}:53"]
        argv += ["--http-listen", "off", "--docker", "--upstream", f"127.0.0.1:{port}"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
        server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
        docker("run", "-d", "--name", client, "--network", net, "--dns", gateway, IMAGE, *CMD)
        pid = subprocess.run(["docker", "inspect", "-f", "{{.State.Pid}}", client],
                             capture_output=True, text=True, check=True).stdout  # fmt: skip
        yield net, gateway, int(pid)
    finally:
        for process in (server, upstream):
            if process is not None:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=10)
        subprocess.run(["docker", "rm", "-f", client], capture_output=True)
        subprocess.run(["docker", "network", "rm", net], capture_output=True)


def answers(ask: Callable[[str, str], int | None], name: str, suffix: str) -> Callable[[], bool]:
    return lambda: ask(name, suffix) == RCODE.NOERROR


def measure_from_container(runs: int) -> Seen:
    seen = Seen()
    with client_network() as (net, _gateway, pid), socket_in_netns(pid) as sock:
        sock.settimeout(0.5)
        host, port = EMBEDDED_DNS

        def ask(name: str, suffix: str) -> int | None:
            return rcode_of(sock, port, name, host, suffix)

        wait_for(lambda: ask("dnsdbench-probe", ".docker.") is not None, time.perf_counter())
        for _ in range(runs):
            name = f"dnsdbench-{uuid.uuid4().hex[:8]}"
            docker("run", "-d", "--name", name, "--network", net, IMAGE, *CMD)
            started = time.perf_counter()
            seen.up.append(wait_for(answers(ask, name, ".docker."), started))
            wait_for(answers(ask, name, "."), started)
            docker("stop", name)
            stopped = time.perf_counter()
            gone: dict[str, float] = {}
            stale_before = seen.stale
            while len(gone) < 2 and time.perf_counter() - stopped < DEADLINE:
                for suffix in (".", ".docker."):
                    if suffix in gone:
                        continue
                    rcode = ask(name, suffix)
                    if rcode == RCODE.NXDOMAIN:
                        gone[suffix] = time.perf_counter() - stopped
                    elif rcode == RCODE.NOERROR:
                        seen.stale += 1
            seen.stale_runs += seen.stale > stale_before
            seen.bare_gone.append(gone.get(".", DEADLINE))
            seen.zone_gone.append(gone.get(".docker.", DEADLINE))
            docker("rm", "-f", name)
    return seen


def container_table(seen: Seen) -> str:
    rows = [
        f"propagation as a client container sees it (via 127.0.0.11), {len(seen.up)} runs",
        "",
        "| measure | median ms | worst ms |",
        "|---|---:|---:|",
    ]
    for label, values in (
        ("docker run -d -> name.docker resolves", seen.up),
        ("docker stop -> name NXDOMAIN (Docker forgets, dnsd answers)", seen.bare_gone),
        ("docker stop -> name.docker NXDOMAIN", seen.zone_gone),
    ):
        rows.append(
            f"| {label} | {statistics.median(values) * 1000:.2f} | {max(values) * 1000:.2f} |"
        )
    rows.append("")
    rows.append(
        f"runs with a stale answer (the old address) after docker stop returned: "
        f"{seen.stale_runs} of {len(seen.up)} ({seen.stale} stale answers in all)"
    )
    return "\n".join(rows)
