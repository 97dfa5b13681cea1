"""A real DnsServer answering one receive call's worth of mixed datagrams (batched UDP).

Local hits, a local miss, NXDOMAIN, a forwarding-cache hit, a query that must go upstream, a
FORMERR and a header too short to answer arrive together from one client; every answerable one
gets exactly one reply with its own ID, the immediate ones in arrival order.
"""

from __future__ import annotations

import asyncio
import socket

import dns.message
import dns.rcode
import pytest

from dnsd.config import Config
from tests.dnsd.core_support import answer_texts
from tests.dnsd.serve.test_server import HOST, FakeForwarder, cached_wire, running


def query(name: str, qid: int) -> bytes:
    message = dns.message.make_query(name, "A")
    message.id = qid
    return message.to_wire()


FORMERR_HEADER = bytes.fromhex("00070000000200000000000000")  # two questions, none present
BATCH = [
    query("web-1.docker.", 1),  # local (first time: full path)
    query("example.com.", 2),  # forwarded: upstream, answered later
    b"\x00\x03\x01",  # too short for a header: no reply
    FORMERR_HEADER,  # ID 7: FORMERR
    query("nope.docker.", 4),  # NXDOMAIN
    query("cached.example.", 5),  # forwarding-cache hit
    query("web-1.docker.", 6),  # local hit
]


async def send_all_then_read(port: int, count: int) -> list[dns.message.Message]:
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setblocking(False)
        for datagram in BATCH:  # all queued before the server's reader runs
            sock.sendto(datagram, (HOST, port))
        replies = []
        for _ in range(count):
            data = await asyncio.wait_for(loop.sock_recv(sock, 4096), 5.0)
            replies.append(dns.message.from_wire(data))
    return replies


@pytest.mark.parametrize("udp_batch", [32, 0], ids=["batched", "one-per-call"])
async def test_mixed_datagrams_each_get_their_own_reply(udp_batch: int) -> None:
    fwd = FakeForwarder(cache={"cached.example.": cached_wire("cached.example.", "192.0.2.9")})
    async with running(Config(udp_batch=udp_batch), forwarder=fwd) as (_, _, metrics, port):
        replies = await send_all_then_read(port, 6)
    by_id = {r.id: r for r in replies}
    assert [r.id for r in replies if r.id != 2] == [1, 7, 4, 5, 6]  # arrival order
    assert sorted(by_id) == [1, 2, 4, 5, 6, 7]
    assert answer_texts(by_id[1]) == answer_texts(by_id[6]) == ["10.0.0.1"]
    assert answer_texts(by_id[2]) == ["192.0.2.55"]
    assert answer_texts(by_id[5]) == ["192.0.2.9"]
    assert by_id[7].rcode() == dns.rcode.FORMERR
    assert by_id[4].rcode() == dns.rcode.NXDOMAIN
    assert metrics.dropped_packets == 1
