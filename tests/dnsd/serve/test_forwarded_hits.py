"""Forwarding-cache hits served from the fast path's table, like local hits (a real forwarder,
a stub upstream on loopback, real UDP; the forwarder's clock is the test's).

Once a cache hit has gone through the chain it is kept in the table and answered there until
the cache would re-render its TTLs (the next whole second); then the chain answers once more
and the entry is refreshed. The ACL still applies per client, IDs and name case per query.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.asyncquery
import dns.message
import dns.rcode
import pytest

from dnsd.config import Config
from dnsd.forward import Forwarder
from dnsd.ops.metrics import Metrics
from dnsd.serve.listeners import DnsServer
from registry import Resync, Store
from tests.dnsd.core_support import sample_endpoints
from tests.dnsd.forward.stub_upstream import StubUpstream

HOST = "127.0.0.1"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def stub() -> AsyncIterator[StubUpstream]:
    upstream = await StubUpstream().add("fwd.example. 60 IN A 192.0.2.7").start()
    yield upstream
    await upstream.close()


async def ask(name: str, qid: int, port: int, source: str = HOST) -> dns.message.Message:
    query = dns.message.make_query(name, "A")
    query.id = qid
    return await dns.asyncquery.udp(query, HOST, port=port, timeout=5.0, source=source)


def ttl_and_name(reply: dns.message.Message) -> tuple[int, str]:
    assert reply.answer, reply
    return reply.answer[0].ttl, reply.question[0].name.to_text()


async def test_kept_hits_count_down_keep_ids_and_case_and_respect_the_acl(
    stub: StubUpstream,
) -> None:
    clock = Clock()
    chain_metrics, server_metrics = Metrics(), Metrics()  # chain hits vs table hits
    forwarder = Forwarder(
        [stub.address], chain_metrics, timeout=1.0, clock=clock, allow=["127.0.0.1/32"]
    )
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    server = DnsServer(Config(), store, server_metrics, forwarder)
    await server.start([(HOST, 0)])
    port = server.bound[0][1]
    try:
        first = await ask("fwd.example.", 1, port)  # upstream
        assert (first.id, ttl_and_name(first)) == (1, (60, "fwd.example."))
        second = await ask("FWD.example.", 2, port)  # a cache hit through the chain: kept
        assert (second.id, ttl_and_name(second)) == (2, (60, "FWD.example."))
        third = await ask("fWd.EXAMPLE.", 3, port)  # from the table
        assert (third.id, ttl_and_name(third)) == (3, (60, "fWd.EXAMPLE."))
        assert (chain_metrics.cache_hits, server_metrics.cache_hits) == (1, 1)

        refused = await ask("fwd.example.", 4, port, source="127.0.0.2")  # outside the ACL
        assert refused.rcode() == dns.rcode.REFUSED

        clock.now += 2.5  # the kept rendering is out of date: the chain renders TTL 58
        fourth = await ask("fwd.example.", 5, port)
        assert (fourth.id, ttl_and_name(fourth)) == (5, (58, "fwd.example."))
        fifth = await ask("fwd.example.", 6, port)
        assert (fifth.id, ttl_and_name(fifth)) == (6, (58, "fwd.example."))
        assert (chain_metrics.cache_hits, server_metrics.cache_hits) == (2, 2)

        assert stub.count("fwd.example.") == 1
        assert server_metrics.queries[("A", "NOERROR", "cache")] == 4
        assert server_metrics.queries[("A", "NOERROR", "upstream")] == 1
        assert server_metrics.queries[("A", "REFUSED", "local")] == 1
    finally:
        await server.close()
        await forwarder.close()
