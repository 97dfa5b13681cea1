"""Issue 9, item 2: clients cannot grow the metric label sets. A sweep of query types (local
and forwarded, over the real UDP listener) adds no series beyond the fixed label sets."""

from __future__ import annotations

import asyncio
import socket

from dnslib import DNSRecord
from prometheus_client.parser import text_string_to_metric_families

from dnsd.config import Config
from dnsd.forward import Forwarder
from dnsd.ops import prometheus
from dnsd.ops.metrics import Metrics, qtype_label, rcode_label
from dnsd.ops.state import ServerState
from dnsd.serve.listeners import DnsServer
from registry import Store
from tests.dnsd.forward.stub_upstream import StubUpstream

SWEEP = range(300, 2300)  # 2,000 types dnslib has no name for


def query(name: str, qtype: int, qid: int) -> bytes:
    packet = bytes(DNSRecord.question(name, "A").pack())
    return qid.to_bytes(2, "big") + packet[2:-4] + qtype.to_bytes(2, "big") + b"\x00\x01"


async def sweep(address: tuple[str, int], packets: list[bytes]) -> int:
    """Send every packet, a few at a time, and count the replies."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    replies = 0
    try:
        for start in range(0, len(packets), 20):
            batch = packets[start : start + 20]
            for packet in batch:
                sock.sendto(packet, address)
            for _ in batch:
                try:
                    await asyncio.wait_for(loop.sock_recv(sock, 4096), 2.0)
                    replies += 1
                except TimeoutError:
                    break
    finally:
        sock.close()
    return replies


def test_labels_come_from_fixed_sets() -> None:
    assert [qtype_label(t) for t in (1, 65, 64, 255, 300, 65535)] == [
        "A", "HTTPS", "SVCB", "ANY", "other", "other"
    ]  # fmt: skip
    assert [rcode_label(r) for r in (0, 3, 5, 16, 11, 15)] == [
        "NOERROR", "NXDOMAIN", "REFUSED", "BADVERS", "other", "other"
    ]  # fmt: skip


async def test_a_qtype_sweep_adds_no_series() -> None:
    stub = await StubUpstream().add("fwd.example. 300 IN A 192.0.2.1").start()
    metrics = Metrics()
    forwarder = Forwarder([stub.address], metrics, allow=["127.0.0.0/8"], timeout=0.5,
                          deadline=1.0)  # fmt: skip
    config = Config(docker=False, http_listen=None)
    server = DnsServer(config, Store(), metrics, forwarder)
    await server.start([("127.0.0.1", 0)])
    try:
        packets = [query("docker.", t, i) for i, t in enumerate(SWEEP)]
        packets += [query("fwd.example.", t, i) for i, t in enumerate(SWEEP[:300])] * 2
        assert await sweep(server.bound[0], packets) == len(packets)
        body = prometheus.render(ServerState(config, Store(), metrics))
    finally:
        await server.close()
        await forwarder.close()
        await stub.close()
    families = {f.name: f for f in text_string_to_metric_families(body)}
    queries = families["dnsd_queries"].samples
    assert {s.labels["qtype"] for s in queries} == {"other"}
    assert {(s.labels["rcode"], s.labels["source"]) for s in queries} <= {
        ("NOERROR", "local"), ("NXDOMAIN", "upstream"), ("NOERROR", "upstream"),
        ("NOERROR", "cache"), ("NXDOMAIN", "cache"),
    }  # fmt: skip
    assert sum(s.value for s in queries) == len(packets)
    assert len(body.splitlines()) < 200
