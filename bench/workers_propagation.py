"""How long a registry change takes to reach every --workers process.

`python -m bench.workers_propagation [--workers 2] [--changes 200]`: runs a WorkerPool in this
process (the parent side, as `dnsd serve --workers N` does) with real worker processes on a
loopback port, applies one Upsert at a time, and times each from the parent's `Store.apply` until
every worker has acknowledged applying it (the acknowledgement's trip back is included, so this
is an upper bound on when a worker starts answering from the new registry). Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics

from dnsd.app import build_forwarder
from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from dnsd.serve.listeners import DnsServer
from dnsd.workers import WorkerPool
from registry import Address, Endpoint, NameClaim, Origin, Store, Upsert


def endpoint(n: int) -> Endpoint:
    name = f"host-{n}"
    return Endpoint(
        source="bench",
        id=name,
        name=name,
        claims=(NameClaim(name, Origin.STATIC),),
        addresses=(Address(f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", ""),),
    )


async def measure(workers: int, changes: int, names: int) -> list[float]:
    config = Config(workers=workers, docker=False, upstreams=(), http_listen=None)
    store = Store()
    for n in range(names):
        store.apply(Upsert(endpoint(n)))
    server = DnsServer(config, store, Metrics())
    await server.start([("127.0.0.1", 0)])
    pool = WorkerPool(config, store, build_forwarder)
    took = []
    try:
        await pool.start(server.bound)
        await pool.wait_synced()
        for n in range(changes):
            store.apply(Upsert(endpoint(names + n)))
            await pool.wait_synced()
            took.append(pool.propagation.last_s)
            await asyncio.sleep(0.005)
    finally:
        await pool.stop()
        await server.close()
    return took


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.workers_propagation", description=__doc__)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--changes", type=int, default=200)
    p.add_argument("--names", type=int, default=100, help="endpoints registered beforehand")
    a = p.parse_args()
    took = sorted(asyncio.run(measure(a.workers, a.changes, a.names)))
    ms = [t * 1e3 for t in took]
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(
        f"{a.workers} processes ({a.workers - 1} workers), {a.names} names, {len(ms)} changes: "
        f"median {statistics.median(ms):.3f} ms, 99th percentile {p99:.3f} ms, max {ms[-1]:.3f} ms"
    )


if __name__ == "__main__":
    main()
