"""What etcd itself costs a cross-host change, and what a member adds before it writes.

`python -m bench.cluster etcd [--runs 50]` against a throwaway three-member cluster on loopback:
(1) a bare one-key transaction on a lease, from send to acknowledgement, and until a watch on
another member delivers it; (2) an in-process `ClusterMember` publishing a records-file
endpoint: from `Store.apply` until its transaction is sent, and from send to acknowledgement.
Prints median and worst in ms. Not a test; stops what it starts.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable
from typing import Any

from registry import Address, Endpoint, NameClaim, Origin, Store, Upsert
from watchers.base import Supervisor
from watchers.cluster import ClusterMember, ClusterSettings
from watchers.cluster.etcd import Etcd, EtcdSettings


def _row(label: str, ms: list[float]) -> str:
    return f"| {label} | {len(ms)} | {statistics.median(ms):.2f} | {max(ms):.2f} |"


async def bare_put(endpoints: str, runs: int) -> list[str]:
    urls = endpoints.split(",")
    settings = EtcdSettings(tuple(urls))
    writer, reader = Etcd(settings, urls[0]), Etcd(settings, urls[1])
    seen: dict[str, float] = {}

    async def watch() -> None:
        async for change in reader.watch("/bench-put/", 1):
            seen.setdefault(change.key, time.perf_counter())

    task = asyncio.create_task(watch())
    ack: list[float] = []
    delivered: list[float] = []
    try:
        await asyncio.sleep(0.5)
        lease = await writer.grant(30)
        for i in range(runs):
            key = f"/bench-put/{i}"
            start = time.perf_counter()
            await writer.write([(key, b"v" * 300)], [], lease)
            ack.append((time.perf_counter() - start) * 1000)
            while key not in seen:
                await asyncio.sleep(0.0002)
            delivered.append((seen[key] - start) * 1000)
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await writer.close()
        await reader.close()
    return [_row("bare put: sent -> acknowledged", ack),
            _row("bare put: sent -> watch on another member", delivered)]  # fmt: skip


async def member_publish(endpoints: str, runs: int) -> list[str]:
    settings = EtcdSettings(tuple(endpoints.split(",")))
    member = ClusterMember(ClusterSettings(settings, "bench.", "a", "127.0.0.1", publish=("file",)))
    store = Store()
    apply = member.attach(store)
    supervisor = asyncio.create_task(Supervisor(member, store.apply).run())
    sent: dict[str, tuple[float, float]] = {}
    write: Callable[..., Any] = Etcd.write

    async def timed(self: Etcd, puts: Any, deletes: Any, lease: int) -> int:
        start = time.perf_counter()
        done: int = await write(self, puts, deletes, lease)
        for key, _ in puts:
            sent[key] = (start, time.perf_counter())
        return done

    Etcd.write = timed  # type: ignore[method-assign]
    before: list[float] = []
    ack: list[float] = []
    try:
        while member.state != "connected":
            await asyncio.sleep(0.05)
        for i in range(runs):
            claim = (NameClaim(f"svc{i}", Origin.STATIC),)
            endpoint = Endpoint("file:/x", f"line-{i}", f"svc{i}", claim,
                                (Address(f"10.9.0.{i % 250 + 1}", "static"),))  # fmt: skip
            key = f"/dnsd/v1/bench/nodes/a/file%3A%2Fx/line-{i}"
            start = time.perf_counter()
            apply(Upsert(endpoint))
            while key not in sent:
                await asyncio.sleep(0.0002)
            before.append((sent[key][0] - start) * 1000)
            ack.append((sent[key][1] - sent[key][0]) * 1000)
            await asyncio.sleep(0.02)
    finally:
        Etcd.write = write  # type: ignore[method-assign]
        supervisor.cancel()
        await asyncio.gather(supervisor, return_exceptions=True)
    return [_row("member: registry change -> transaction sent", before),
            _row("member: transaction sent -> acknowledged", ack)]  # fmt: skip


def etcd_costs(endpoints: str, runs: int) -> None:
    print("| measure | runs | median ms | worst ms |\n|---|---:|---:|---:|")
    for rows in (
        asyncio.run(bare_put(endpoints, runs)),
        asyncio.run(member_publish(endpoints, runs)),
    ):
        print("\n".join(rows))
