"""Benchmark: how long after `docker run -d` / `docker stop` return does DNS agree?

Three ways to look (not a test, prints a table):
  python -m bench.propagation              # in-process watcher + Store (registry view)
  python -m bench.propagation --serve      # a real `dnsd serve` on loopback, polled over UDP
  python -m bench.propagation --container  # as a client container sees it (root: port 53)
Each of RUNS rounds starts a uniquely named container, waits until its name
resolves, stops it, and waits for NXDOMAIN. A name already visible when the
CLI returns counts as 0 ms. `--container` runs `dnsd serve` on a new network's
gateway:53 and polls from a socket inside a client container's network namespace
(its `--dns` is dnsd) through Docker's resolver 127.0.0.11: the bare name (Docker
answers it until it forgets the container, then forwards it to dnsd) and
`<name>.docker` (always dnsd), counting stale answers seen after `docker stop`
returned. Cleans up every container and network it made. Needs the local test
image (scripts/build-test-image).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable

from dnslib import QTYPE, RCODE, DNSRecord

from registry import Snapshot, Store
from watchers.base import Supervisor
from watchers.docker_watcher import DockerWatcher

IMAGE = "dnsd-test-busybox:latest"
CMD = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")
DEADLINE = 10.0


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True)


# -- in-process: the registry's view ------------------------------------------------


async def measure_in_process(runs: int) -> tuple[list[float], list[float]]:
    store = Store()
    supervisor = Supervisor(DockerWatcher(), store.apply)
    task = asyncio.create_task(supervisor.run())
    await asyncio.wait_for(supervisor.synced.wait(), 30)
    seen: dict[tuple[str, bool], float] = {}
    waiting: set[tuple[str, bool]] = set()

    def note(snapshot: Snapshot, _event: object) -> None:
        for name, want in list(waiting):
            if snapshot.has_name(name) == want:
                seen.setdefault((name, want), time.perf_counter())

    store.subscribe(note)
    up: list[float] = []
    down: list[float] = []
    try:
        for _ in range(runs):
            name = f"dnsdbench-{uuid.uuid4().hex[:8]}"
            for want, args, out in (
                (True, ("run", "-d", "--name", name, IMAGE, *CMD), up),
                (False, ("stop", name), down),
            ):
                waiting.add((name, want))
                await asyncio.to_thread(docker, *args)
                returned = time.perf_counter()
                if store.snapshot.has_name(name) == want:
                    seen.setdefault((name, want), returned)
                while (name, want) not in seen and time.perf_counter() - returned < DEADLINE:
                    await asyncio.sleep(0.0005)
                out.append(max(0.0, seen.get((name, want), returned + DEADLINE) - returned))
            await asyncio.to_thread(docker, "rm", "-f", name)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return up, down


# -- over the wire: a real dnsd serve -------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rcode_of(
    sock: socket.socket, port: int, name: str, host: str = "127.0.0.1", suffix: str = ".docker."
) -> int | None:
    """The reply's rcode for `name` + `suffix` (None: no reply, or NOERROR without an A).

    A late reply to an earlier, timed-out query is skipped: only this query's ID and name count.
    """
    query = DNSRecord.question(f"{name}{suffix}", "A")
    sock.sendto(query.pack(), (host, port))
    while True:
        try:
            reply = DNSRecord.parse(sock.recv(4096))
        except (TimeoutError, OSError):
            return None
        if reply.header.id == query.header.id and reply.q.qname == query.q.qname:
            break
    if reply.header.rcode == RCODE.NOERROR and not any(r.rtype == QTYPE.A for r in reply.rr):
        return None
    return int(reply.header.rcode)


def wait_for(check: Callable[[], bool], since: float) -> float:
    while not check():
        if time.perf_counter() - since > DEADLINE:
            return DEADLINE
        time.sleep(0.0005)
    return time.perf_counter() - since


def until_rcode(sock: socket.socket, port: int, name: str, rcode: int) -> float:
    return wait_for(lambda: rcode_of(sock, port, name) == rcode, time.perf_counter())


def measure_served(runs: int) -> tuple[list[float], list[float]]:
    port = free_port()
    argv = [sys.executable, "-m", "dnsd", "serve", "--dns-listen", f"127.0.0.1:{port}"]
    argv += ["--http-listen", "off", "--docker"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    server = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    up: list[float] = []
    down: list[float] = []
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            wait_for(
                lambda: rcode_of(sock, port, "dnsdbench-probe") is not None, time.perf_counter()
            )
            for _ in range(runs):
                name = f"dnsdbench-{uuid.uuid4().hex[:8]}"
                docker("run", "-d", "--name", name, IMAGE, *CMD)
                up.append(until_rcode(sock, port, name, RCODE.NOERROR))
                docker("stop", name)
                down.append(until_rcode(sock, port, name, RCODE.NXDOMAIN))
                docker("rm", "-f", name)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=10)
    return up, down


# -- report ---------------------------------------------------------------------------


def table(up: list[float], down: list[float], where: str) -> str:
    rows = [f"propagation ({where}), {len(up)} runs", "", "| measure | median ms | worst ms |"]
    rows.append("|---|---:|---:|")
    for label, values in (
        ("docker run -d -> name resolves", up),
        ("docker stop -> NXDOMAIN", down),
    ):
        rows.append(
            f"| {label} | {statistics.median(values) * 1000:.2f} | {max(values) * 1000:.2f} |"
        )
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--serve", action="store_true", help="measure through a real dnsd serve")
    parser.add_argument(
        "--container", action="store_true", help="measure from inside a client container (root)"
    )
    args = parser.parse_args(argv)
    if args.container:
        from bench.propagation_container import container_table, measure_from_container

        print(container_table(measure_from_container(args.runs)))
    elif args.serve:
        up, down = measure_served(args.runs)
        print(table(up, down, "dnsd serve over UDP on loopback"))
    else:
        up, down = asyncio.run(measure_in_process(args.runs))
        print(table(up, down, "in-process watcher, registry snapshot"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
