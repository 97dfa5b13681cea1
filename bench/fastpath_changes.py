"""Benchmark: what a registry change costs the fast path's reply cache (not a test).

  python -m bench.fastpath_changes invalidation [--names 10000] [--changes 100]
  python -m bench.fastpath_changes cluster-cpu [--endpoints 2000] [--churn 50] [--qps 5000]

`invalidation` (in process): a registry of `--names` endpoints from one cluster node, every
name cached, then single upserts, each followed by one query of every name; per change, the
apply (snapshot + invalidation), the next pass over every name and the replies rebuilt,
with per-name invalidation and with the drop-everything rule it replaced. `cluster-cpu`: dnsd
"b" as a cluster member of a three-member etcd on loopback, with two simulated nodes; dnsperf
asks b for names of node n1 at a fixed rate, once alone, once while node n0 churns `--churn`
changes per second in etcd, and the churn alone; b's CPU per query from /proc. Everything it
starts it stops; traffic stays on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.cluster_scale import synthetic, write_nodes
from bench.cluster_support import ZONE, addresses, dnsd, etcd_cluster, until
from bench.dnsperf import Load, command, run
from bench.procfs import cpu_seconds, load_average
from dnsd.core.wire import Decision, Reply
from dnsd.core.zone import ZoneSettings
from dnsd.serve.fastpath import FastPath, keep
from registry import Endpoint, Event, Resync, Snapshot, Store, Upsert
from tests.dnsd.core_support import query
from watchers.cluster.codec import encode, endpoint_key
from watchers.cluster.etcd import Etcd, EtcdSettings

CLIENT = "192.0.2.1"


class PerName(FastPath[Decision]):
    """The fast path, timing its invalidation."""

    spent = 0.0

    def _invalidate(self, snapshot: Snapshot, event: Event) -> None:
        started = time.perf_counter()
        self._invalidate_now(snapshot, event)
        self.spent += time.perf_counter() - started

    def _invalidate_now(self, snapshot: Snapshot, event: Event) -> None:
        super()._invalidate(snapshot, event)


class DropAll(PerName):
    """The rule before per-name invalidation: every change drops every cached reply."""

    def _invalidate_now(self, snapshot: Snapshot, event: Event) -> None:
        self._drop_all()


def _remote(i: int, generation: int = 0) -> Endpoint:
    ep = synthetic(1, i, generation)
    return Endpoint("cluster:n1", ep.id, ep.name, ep.claims, ep.addresses, ep.ports, node="n1")


def invalidation(names: int, changes: int) -> None:
    packets = [query(f"n1-e{i}.{ZONE}.") for i in range(names)]
    print(f"| rule | cached | store.apply µs/change | of which invalidation µs | next pass over"
          f" {names} names ms | replies rebuilt/change |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|")
    for label, kind in (("drop everything (before)", DropAll), ("per name (now)", PerName)):
        store = Store()
        store.apply(Resync("cluster:n1", tuple(_remote(i) for i in range(names))))
        fast = kind(store, ZoneSettings(zone=f"{ZONE}."), Counter(), keep, max_entries=10**6)
        for packet in packets:
            fast.udp(packet, CLIENT)
        cached = fast.entries
        applying = passing = 0.0
        fills = fast.fills
        for k in range(changes):
            started = time.perf_counter()
            store.apply(Upsert(_remote(k * 7 % names, k + 1)))
            applied = time.perf_counter()
            for packet in packets:
                answer = fast.udp(packet, CLIENT)
                assert isinstance(answer, bytes | Reply)
            applying += applied - started
            passing += time.perf_counter() - applied
        rebuilt = (fast.fills - fills) / changes
        print(f"| {label} | {cached} | {applying / changes * 1e6:.0f} |"
              f" {fast.spent / changes * 1e6:.0f} |"
              f" {passing / changes * 1000:.1f} | {rebuilt:.1f} |")  # fmt: skip


def cluster_cpu(endpoints: int, churn: float, qps: int, seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="dnsd-bench-fp-") as root:
        queryfile = Path(root) / "queries"
        queryfile.write_text("".join(f"n1-e{i}.{ZONE} A\n" for i in range(min(endpoints, 1000))))
        with etcd_cluster() as etcd:
            _retried(lambda: asyncio.run(write_nodes(etcd.members[0].url, 2, endpoints)))
            with dnsd("b", etcd.endpoints, "--no-docker") as b:
                until(lambda: addresses(b.dns_port, f"n1-e{endpoints - 1}") is not None, 60)
                until(lambda: addresses(b.dns_port, f"n0-e{endpoints - 1}") is not None, 60)
                load = Load("127.0.0.1", b.dns_port, queryfile, seconds, clients=4, max_qps=qps)
                pid = b.process.pid
                print("| run | queries | changes | b CPU s | b CPU µs/query |")
                print("|---|---:|---:|---:|---:|")
                rows = [("dnsperf alone", *_measure(pid, load, etcd.members[2].url, 0))]
                rows.append(("churn alone", *_measure(pid, None, etcd.members[2].url, churn,
                                                      seconds)))  # fmt: skip
                rows.append(("dnsperf + churn", *_measure(pid, load, etcd.members[1].url, churn)))
                for label, queries, changed, cpu in rows:
                    per = f"{cpu / queries * 1e6:.1f}" if queries else "-"
                    print(f"| {label} | {queries} | {changed} | {cpu:.2f} | {per} |")
                churn_cpu = rows[1][3] / max(1, rows[1][2])
                _, queries, changed, cpu = rows[2]
                net = (cpu - churn_cpu * changed) / queries * 1e6
                print(f"\ndnsperf + churn, minus the churn's own CPU ({churn_cpu * 1000:.2f} ms per"
                      f" change): {net:.1f} µs/query")  # fmt: skip
                print(f"dnsperf: {' '.join(command(load))}")


def _measure(
    pid: int, load: Load | None, url: str, churn: float, seconds: float = 0.0
) -> tuple[int, int, float]:
    """(queries completed, changes made, b's CPU seconds) for one run."""
    done: list[int] = []

    def churning() -> None:
        count = int(churn * (load.seconds if load else seconds))
        done.append(asyncio.run(_churn(url, count, churn)))

    worker = threading.Thread(target=churning) if churn else None
    cpu = cpu_seconds(pid)
    if worker is not None:
        worker.start()
    queries = run(command(load), load.seconds + 30).completed if load is not None else 0
    if worker is not None:
        worker.join()
    time.sleep(0.5)  # the last changes applied
    return queries, sum(done), cpu_seconds(pid) - cpu


GENERATION = [1]


def _retried(write: Callable[[], None], tries: int = 10) -> None:
    """`write`, again after a second while etcd (on a busy machine) has no leader yet."""
    for attempt in range(tries):
        try:
            return write()
        except Exception:  # aetcd's errors share no base class worth naming here
            if attempt == tries - 1:
                raise
            time.sleep(1)


async def _churn(url: str, count: int, rate: float) -> int:
    """`count` changes of node n0's endpoints at `rate` per second, each a new value."""
    GENERATION[0] += 1
    etcd = Etcd(EtcdSettings((url,)), url)
    try:
        for k in range(count):
            key = endpoint_key(ZONE, "n0", "docker", f"id{k}")
            await etcd.write([(key, encode(synthetic(0, k, GENERATION[0]), "127.0.0.1"))], [], 0)
            await asyncio.sleep(1 / rate)
    finally:
        await etcd.close()
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.fastpath_changes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("what", choices=["invalidation", "cluster-cpu"])
    parser.add_argument("--names", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--endpoints", type=int, default=2000)
    parser.add_argument("--churn", type=float, default=50.0)
    parser.add_argument("--qps", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    print(f"load average before: {load_average()}")
    if args.what == "invalidation":
        invalidation(args.names, args.changes)
    else:
        cluster_cpu(args.endpoints, args.churn, args.qps, args.seconds)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
