"""Benchmark: multi-host mode against a real three-member etcd cluster on loopback (not a test).

  python -m bench.cluster propagation [--runs 50]      # container start on A -> answered by B
  python -m bench.cluster scale --nodes 5 --endpoints 2000 [--churn 50]
  python -m bench.cluster scale --nodes 20 --endpoints 5000 --churn 0
  python -m bench.cluster registry --endpoints 100000  # in-process cost of one change

`propagation` runs dnsd "a" on the local Docker engine and dnsd "b" without Docker; each
round starts a container with a published port on a network the benchmark creates and
polls b over UDP until it answers, then stops it and polls until NXDOMAIN. `scale` writes
simulated nodes straight into etcd, starts dnsd "b" and reports load time, resident
memory, the propagation of single changes at that size, and b's CPU and watch lag while
one node churns. Everything it starts it stops; traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import QTYPE, RCODE, DNSRecord

from bench.procfs import cpu_seconds, load_average, rss_kib
from registry import Address, Endpoint, NameClaim, Origin, Port, Snapshot, Upsert
from tests.cluster.etcd_cluster import EtcdCluster
from tests.serve_process import free_port, stop_process
from watchers.cluster.codec import encode, endpoint_key
from watchers.cluster.etcd import Etcd, EtcdSettings

IMAGE = "dnsd-test-busybox:latest"
CMD = ("sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait")
ZONE = "bench"
DEADLINE = 10.0


@dataclass
class Node:
    process: subprocess.Popen[bytes]
    dns_port: int
    http_port: int

    def health(self) -> dict[str, Any]:
        url = f"http://127.0.0.1:{self.http_port}/health"
        with urllib.request.urlopen(url, timeout=5) as response:
            return dict(json.load(response))


@contextmanager
def dnsd(name: str, etcd: str, *args: str) -> Iterator[Node]:
    dns_port, http_port = free_port(), free_port()
    argv = [sys.executable, "-m", "dnsd", "serve", "--dns-listen", f"127.0.0.1:{dns_port}",
            "--http-listen", f"127.0.0.1:{http_port}", "--upstream", f"127.0.0.1:{free_port()}",
            "--domain", ZONE, "--node", name, "--advertise-ip", "127.0.0.1", "--cluster-etcd", etcd,
            "--log-level", "warning", *args]  # fmt: skip
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield Node(process, dns_port, http_port)
    finally:
        stop_process(process, 5)


def addresses(port: int, name: str) -> list[str] | None:
    """A records of `name` from dnsd on `port`; None for NXDOMAIN or no reply."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.sendto(DNSRecord.question(f"{name}.{ZONE}.", "A").pack(), ("127.0.0.1", port))
        try:
            reply = DNSRecord.parse(sock.recv(4096))
        except OSError:
            return None
    if reply.header.rcode != RCODE.NOERROR:
        return None
    return [str(r.rdata) for r in reply.rr if r.rtype == QTYPE.A]


def until(check: Callable[[], bool], deadline: float = DEADLINE, every: float = 0.0005) -> float:
    start = time.perf_counter()
    while not check():
        if time.perf_counter() - start > deadline:
            return deadline
        time.sleep(every)
    return time.perf_counter() - start


def summary(label: str, seconds: list[float]) -> str:
    ms = sorted(s * 1000 for s in seconds)
    return f"| {label} | {len(ms)} | {statistics.median(ms):.1f} | {ms[-1]:.1f} |"


@contextmanager
def etcd_cluster() -> Iterator[EtcdCluster]:
    with tempfile.TemporaryDirectory(prefix="dnsd-bench-etcd-") as root:
        cluster = EtcdCluster(Path(root))
        try:
            cluster.start()
            cluster.wait_healthy()
            yield cluster
        finally:
            cluster.stop()


# -- propagation ---------------------------------------------------------------------


def propagation(runs: int) -> None:
    network = f"dnsdbench-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "network", "create", network], check=True, capture_output=True)
    try:
        with etcd_cluster() as etcd, dnsd("a", etcd.endpoints, "--docker") as a, \
                dnsd("b", etcd.endpoints, "--no-docker") as b:  # fmt: skip
            until(lambda: addresses(b.dns_port, "probe") is None and _connected(a, b), 30)
            before = a.health()["cluster"]
            up, down = rounds(runs, network, b)
            after = a.health()["cluster"]
    finally:
        subprocess.run(["docker", "network", "rm", network], capture_output=True)
    writes = int(after["etcd_writes"]) - int(before["etcd_writes"])
    txns = int(after["etcd_transactions"]) - int(before["etcd_transactions"])
    print("| change | runs | median ms | worst ms |\n|---|---:|---:|---:|")
    print(summary("container start on a -> answered by b", up))
    print(summary("container stop on a -> NXDOMAIN at b", down))
    print(
        f"\netcd writes per container change: {writes / (2 * runs):.2f} keys"
        f" in {txns / (2 * runs):.2f} transactions"
    )


def _connected(*nodes: Node) -> bool:
    try:
        return all(n.health()["cluster"]["state"] == "connected" for n in nodes)
    except OSError:
        return False


def rounds(runs: int, network: str, b: Node) -> tuple[list[float], list[float]]:
    up: list[float] = []
    down: list[float] = []
    for _ in range(runs):
        name = f"dnsdbench-{uuid.uuid4().hex[:8]}"
        docker = [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            "-p",
            "127.0.0.1::80",
        ]
        subprocess.run([*docker, IMAGE, *CMD], check=True, capture_output=True)
        up.append(until(lambda n=name: addresses(b.dns_port, n) == ["127.0.0.1"]))  # type: ignore[misc]
        subprocess.run(["docker", "stop", name], check=True, capture_output=True)
        down.append(until(lambda n=name: addresses(b.dns_port, n) is None))  # type: ignore[misc]
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
    return up, down


# -- scale ---------------------------------------------------------------------------


def synthetic(node: int, i: int, generation: int = 0) -> Endpoint:
    return Endpoint(
        "docker", f"id{i}", f"n{node}-e{i}",
        (NameClaim(f"n{node}-e{i}", Origin.CONTAINER_NAME),
         NameClaim(f"svc{i % 50}", Origin.COMPOSE_SERVICE)),
        (Address(f"10.{node}.{i // 250}.{i % 250 + 1}", "net"),),
        (Port(80, "tcp", "", 30000 + generation, "0.0.0.0"),),
    )  # fmt: skip


async def write_nodes(url: str, nodes: int, endpoints: int) -> None:
    etcd = Etcd(EtcdSettings((url,)), url)
    try:
        for node in range(nodes):
            host = f"127.0.{node}.1"
            puts = [
                (
                    endpoint_key(ZONE, f"n{node}", "docker", f"id{i}"),
                    encode(synthetic(node, i), host),
                )
                for i in range(endpoints)
            ]
            await etcd.write(puts, [], 0)
    finally:
        await etcd.close()


async def change(url: str, count: int, rate: float, node: int = 0) -> list[tuple[str, float]]:
    """`count` single-key changes at `rate` per second: each moves one endpoint's host."""
    etcd = Etcd(EtcdSettings((url,)), url)
    done: list[tuple[str, float]] = []
    try:
        for k in range(count):
            key = endpoint_key(ZONE, f"n{node}", "docker", f"id{k}")
            await etcd.write(
                [(key, encode(synthetic(node, k, 1), f"127.1.{k // 250}.{k % 250 + 1}"))], [], 0
            )
            done.append((f"n{node}-e{k}", time.perf_counter()))
            if rate:
                await asyncio.sleep(1 / rate)
    finally:
        await etcd.close()
    return done


def scale(nodes: int, endpoints: int, churn: float) -> None:
    total = nodes * endpoints
    with etcd_cluster() as etcd:
        started = time.perf_counter()
        asyncio.run(write_nodes(etcd.members[0].url, nodes, endpoints))
        print(
            f"wrote {total} endpoints in {time.perf_counter() - started:.1f} s"
            f" (etcd revision {etcd.revision()})"
        )
        with dnsd("b", etcd.endpoints, "--no-docker") as b:
            answering = until(lambda: addresses(b.dns_port, "probe") is None, 60)
            loaded = until(lambda: _endpoints(b) == total, 300, every=0.05)
            print(
                f"b answering DNS {answering:.2f} s after start; all {total} remote endpoints"
                f" loaded {loaded:.2f} s after start"
            )
            print(f"b VmRSS after load: {rss_kib(b.process.pid) / 1024:.1f} MiB")
            singles = _single_changes(etcd, b, 20)
            print(summary(f"one change at {total} endpoints: etcd write -> answered by b", singles))
            if churn:
                _churn(etcd, b, churn)


def _endpoints(node: Node) -> int:
    try:
        counts = node.health()["cluster"]["nodes"]
    except OSError:
        return -1
    return sum(counts.values())


def _single_changes(etcd: EtcdCluster, b: Node, count: int) -> list[float]:
    out = []
    for k in range(count):
        name = f"n1-e{k}"
        want = f"127.2.0.{k + 1}"

        async def one(k: int = k, want: str = want) -> float:
            client = Etcd(EtcdSettings((etcd.members[1].url,)), etcd.members[1].url)
            try:
                await client.write(
                    [
                        (
                            endpoint_key(ZONE, "n1", "docker", f"id{k}"),
                            encode(synthetic(1, k, 2), want),
                        )
                    ],
                    [],
                    0,
                )
                return time.perf_counter()
            finally:
                await client.close()

        wrote = asyncio.run(one())
        until(lambda n=name, w=want: addresses(b.dns_port, n) == [w])  # type: ignore[misc]
        out.append(time.perf_counter() - wrote)
    return out


def _churn(etcd: EtcdCluster, b: Node, rate: float, seconds: float = 10.0) -> None:
    count = int(rate * seconds)
    cpu = cpu_seconds(b.process.pid)
    lags: list[int] = []
    done = asyncio.run(_churn_and_sample(etcd.members[2].url, count, rate, b, lags))
    last_name = done[-1][0]
    catch_up = until(lambda: (addresses(b.dns_port, last_name) or [""])[0].startswith("127.1."))
    used = cpu_seconds(b.process.pid) - cpu
    print(f"churn: {count} changes at {rate:.0f}/s on node n0; "
          f"b's CPU {used / count * 1000:.2f} ms per change "
          f"(includes the lag polling); watch lag sampled every 0.1 s: "
          f"max {max(lags or [0])} revisions; "
          f"last change answered {catch_up * 1000:.1f} ms after the churn ended")  # fmt: skip


async def _churn_and_sample(
    url: str, count: int, rate: float, b: Node, lags: list[int]
) -> list[tuple[str, float]]:
    async def sample() -> None:
        while True:
            await asyncio.sleep(0.1)
            report = await asyncio.to_thread(b.health)
            lags.append(int(report["cluster"]["watch_lag"] or 0))

    sampler = asyncio.create_task(sample())
    try:
        return await change(url, count, rate)
    finally:
        sampler.cancel()


# -- registry: one change at size -------------------------------------------------------


def registry(endpoints: int) -> None:
    eps = {(f"cluster:n{i % 20}", f"id{i}"): _tagged(i) for i in range(endpoints)}
    started = time.perf_counter()
    snapshot = Snapshot(eps)
    build = time.perf_counter() - started
    changes = [_tagged(i, 1) for i in range(0, endpoints, max(1, endpoints // 2000))]
    started = time.perf_counter()
    for ep in changes:
        snapshot = snapshot.apply(Upsert(ep))
    per_change = (time.perf_counter() - started) / len(changes)
    print(f"registry with {endpoints} endpoints: full build {build * 1000:.0f} ms; "
          f"one change now {per_change * 1e6:.0f} µs (mean of {len(changes)} upserts)")  # fmt: skip


def _tagged(i: int, generation: int = 0) -> Endpoint:
    ep = synthetic(i % 20, i, generation)
    return Endpoint(
        f"cluster:n{i % 20}",
        f"id{i}",
        ep.name,
        ep.claims,
        ep.addresses,
        ep.ports,
        node=f"n{i % 20}",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.cluster", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["propagation", "scale", "registry"])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--churn", type=float, default=50.0, help="changes per second (0: none)")
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    if args.what == "propagation":
        propagation(args.runs)
    elif args.what == "scale":
        scale(args.nodes, args.endpoints, args.churn)
    else:
        registry(args.endpoints)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
