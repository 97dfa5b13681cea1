"""--workers: worker processes on the same port (SO_REUSEPORT) follow the parent's registry.

The parent side runs in the test's loop (a real DnsServer and WorkerPool); the workers are real
spawned processes. Every query comes from a new socket, so the kernel spreads them over the
parent and both workers; a change must be answered by all of them once the pool is synced.
"""

from __future__ import annotations

import asyncio

import dns.asyncquery
import dns.message
import dns.rcode

from dnsd.app import build_forwarder
from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from dnsd.serve.listeners import DnsServer
from dnsd.workers import WorkerPool, resyncs
from registry import Remove, Resync, Store, Upsert
from tests.dnsd.core_support import answer_texts, endpoint, sample_endpoints

HOST = "127.0.0.1"
QUERIES = 40  # from 40 source ports: all three processes answer some of them (1 - 3 * (2/3)^40)


async def ask_many(name: str, port: int) -> list[dns.message.Message]:
    async def one() -> dns.message.Message:
        query = dns.message.make_query(name, "A")
        return await dns.asyncquery.udp(query, HOST, port=port, timeout=5.0)

    return [await one() for _ in range(QUERIES)]


async def wait_synced(pool: WorkerPool) -> None:
    async with asyncio.timeout(10):
        await pool.wait_synced()


async def test_every_worker_starts_from_the_registry_and_follows_each_change() -> None:
    config = Config(workers=3, docker=False, upstreams=(), http_listen=None)
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    server = DnsServer(config, store, Metrics())
    await server.start([(HOST, 0)])
    pool = WorkerPool(config, store, build_forwarder)
    try:
        await pool.start(server.bound)
        port = server.bound[0][1]
        await wait_synced(pool)
        assert {tuple(answer_texts(r)) for r in await ask_many("web-1.docker.", port)} == {
            ("10.0.0.1",)
        }
        assert {r.rcode() for r in await ask_many("new.docker.", port)} == {dns.rcode.NXDOMAIN}

        store.apply(Upsert(endpoint("new", "10.9.9.9")))
        await wait_synced(pool)
        assert {tuple(answer_texts(r)) for r in await ask_many("new.docker.", port)} == {
            ("10.9.9.9",)
        }
        store.apply(Remove("test", "new"))
        await wait_synced(pool)
        assert {r.rcode() for r in await ask_many("new.docker.", port)} == {dns.rcode.NXDOMAIN}
        assert pool.propagation.changes >= 3
        assert all(w.process.is_alive() for w in pool.workers)
    finally:
        await pool.stop()
        await server.close()
    assert not any(w.process.is_alive() for w in pool.workers)


def test_a_new_worker_gets_one_resync_per_source() -> None:
    store = Store()
    store.apply(Resync("a", (endpoint("x", "10.0.0.1", source="a"),)))
    store.apply(Resync("b", (endpoint("y", "10.0.0.2", source="b"),)))
    copy = Store()
    for event in resyncs(store.snapshot):
        copy.apply(event)
    assert dict(copy.snapshot.endpoints) == dict(store.snapshot.endpoints)
