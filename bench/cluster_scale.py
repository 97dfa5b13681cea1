"""Benchmark helpers for `python -m bench.cluster scale|registry`: simulated nodes written
straight into etcd, a dnsd loading them, single changes and churn at that size, and the
registry's in-process cost of one change. Starts and stops what it measures; loopback only.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import time

from dnslib import DNSRecord

from bench.cluster_support import ZONE, Node, addresses, dnsd, etcd_cluster, summary, until
from bench.procfs import cpu_seconds, rss_kib
from registry import Address, Endpoint, NameClaim, Origin, Port, Snapshot, Upsert
from tests.cluster.etcd_cluster import EtcdCluster
from watchers.cluster.codec import encode, endpoint_key
from watchers.cluster.etcd import Etcd, EtcdSettings

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
            started = time.perf_counter()
            until(lambda: _reply_ms(b.dns_port, 0.01) is not None, 60)
            answering = time.perf_counter() - started
            cpu_answering = cpu_seconds(b.process.pid)
            worst = _worst_reply_until(b, nodes, endpoints, 300)
            loaded = time.perf_counter() - started
            print(
                f"b answering DNS {answering:.2f} s after start; all {total} remote endpoints"
                f" loaded and answered {loaded:.2f} s after start; b's CPU:"
                f" {cpu_answering:.2f} s until it answered, {cpu_seconds(b.process.pid):.2f} s"
                f" until loaded; slowest DNS reply"
                f" while loading: {worst:.1f} ms"
            )
            print(f"b VmRSS after load: {rss_kib(b.process.pid) / 1024:.1f} MiB")
            listed = _endpoints(b)
            print(f"b's /health lists {listed} remote endpoints (of {total})")
            singles = _single_changes(etcd, b, 20)
            print(summary(f"one change at {total} endpoints: etcd write -> answered by b", singles))
            if churn:
                _churn(etcd, b, churn)


def _reply_ms(port: int, timeout: float = 5.0) -> float | None:
    """Milliseconds until dnsd on `port` replies (any rcode) to one query; None: no reply."""
    query = DNSRecord.question(f"probe.{ZONE}.", "A").pack()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sent = time.perf_counter()
        sock.sendto(query, ("127.0.0.1", port))
        try:
            sock.recv(4096)
        except OSError:
            return None
        return (time.perf_counter() - sent) * 1000


def _worst_reply_until(b: Node, nodes: int, endpoints: int, deadline: float) -> float:
    """Query b every 10 ms until it answers the last endpoint of every node (each node's
    endpoints are applied together: its last one comes with its `Resync`); the slowest reply
    (ms). Only DNS is asked meanwhile: the HTTP API is served once the load is applied."""
    worst, end, checked = 0.0, time.perf_counter() + deadline, 0.0
    while time.perf_counter() < end:
        worst = max(worst, _reply_ms(b.dns_port) or 5000.0)  # 5000: no reply within 5 s
        if time.perf_counter() - checked > 0.05:
            if all(addresses(b.dns_port, f"n{n}-e{endpoints - 1}") for n in range(nodes)):
                break
            checked = time.perf_counter()
        time.sleep(0.01)
    return worst


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
    gc.freeze()  # what a cluster load does (watchers/cluster/bulk_load.py): the collector
    gc.disable()  # does not rescan the growing registry while it is built
    started = time.perf_counter()
    Snapshot(eps)
    unscanned = time.perf_counter() - started
    gc.enable()
    changes = [_tagged(i, 1) for i in range(0, endpoints, max(1, endpoints // 2000))]
    started = time.perf_counter()
    for ep in changes:
        snapshot = snapshot.apply(Upsert(ep))
    per_change = (time.perf_counter() - started) / len(changes)
    print(f"registry with {endpoints} endpoints: full build {build * 1000:.0f} ms "
          f"({unscanned * 1000:.0f} ms with the collector kept out); "
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
