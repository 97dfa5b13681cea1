"""Hostile input: random and mutated packets never crash the core or the running server."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator

import dns.asyncquery
import dns.message
import pytest

from dnsd.config import Config
from dnsd.core.wire import Drop, Forward, Reply, handle_wire
from dnsd.ops.metrics import Metrics
from dnsd.serve.fastpath import FastPath, keep
from dnsd.serve.listeners import DnsServer
from registry import Resync, Store
from tests.dnsd.core_support import (
    SETTINGS,
    answer_texts,
    crowd,
    query,
    sample_endpoints,
    snapshot_of,
)
from tests.dnsd.fuzz_support import mutate

SEEDS = [
    query("web.docker."),
    query("WEB.docker.", "AAAA", edns=True),
    query("_http._tcp.web.docker.", "SRV"),
    query("1.0.0.10.in-addr.arpa.", "PTR", edns=True, payload=4096),
    query("many.docker.", edns=True, payload=512),
    query("example.com.", "MX"),
    query("docker.", "SOA"),
]


def packets(count: int, seed: int = 20240601) -> Iterator[bytes]:
    """Half random bytes, half valid queries with bytes flipped, cut, repeated or inserted."""
    rng = random.Random(seed)
    for i in range(count):
        if i % 2:
            yield rng.randbytes(rng.choice([0, 5, 11, 12, 13, 17, 30, 64, 200, 513]))
            continue
        packet = bytearray(rng.choice(SEEDS))
        for _ in range(rng.randint(1, 4)):
            mutate(rng, packet)
        yield bytes(packet)


def test_the_pure_core_answers_every_packet_by_the_rules() -> None:
    snapshot = snapshot_of(*sample_endpoints(), *crowd(100))
    for packet in packets(10_000):
        decision = handle_wire(packet, snapshot, SETTINGS)
        if len(packet) < 12 or packet[2] & 0x80:
            assert isinstance(decision, Drop)
            continue
        assert isinstance(decision, Reply | Forward), packet
        if isinstance(decision, Reply):
            assert decision.error is None, (packet, decision.error)
            assert decision.data[:2] == packet[:2]
            assert decision.data[2] & 0x80
            assert len(decision.data) <= 4096


def test_the_hot_path_agrees_with_the_rules_on_mutated_packets() -> None:
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(20))))
    fast = FastPath(store, SETTINGS, Metrics().queries, keep)
    for packet in packets(10_000, seed=7):
        result = fast.udp(packet, "192.0.2.1")
        if isinstance(result, bytes):
            assert result[:2] == packet[:2] and result[2] & 0x80
        elif isinstance(result, Reply):
            assert result.error is None, packet


@pytest.mark.timeout(120)
async def test_a_running_server_survives_ten_thousand_hostile_packets() -> None:
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(100))))
    metrics = Metrics()
    server = DnsServer(Config(), store, metrics)
    await server.start([("127.0.0.1", 0)])
    port = server.bound[0][1]
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            for i, packet in enumerate(packets(10_000, seed=99)):
                if packet:
                    try:
                        sock.sendto(packet, ("127.0.0.1", port))
                    except BlockingIOError:
                        await asyncio.sleep(0.01)
                if i % 200 == 0:
                    await asyncio.sleep(0.005)  # let the server drain its socket
        await asyncio.sleep(0.2)
        q = dns.message.make_query("web-1.docker.", "A")
        reply = await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=5)
        assert answer_texts(reply) == ["10.0.0.1"]
        assert metrics.dropped_packets > 1000  # the random half mostly has no valid header
        assert sum(metrics.queries.values()) > 1000  # and the rest got answers
    finally:
        await server.close()
