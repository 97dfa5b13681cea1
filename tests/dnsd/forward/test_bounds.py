"""Issue 9 items 3, 12 and 16: upstream sockets always closed, forwards in flight capped,
local answers served while upstreams are black-holed, and one absolute deadline per query.

Descriptors are counted in /proc/self/fd; every test runs under asyncio and uvloop, since
the leak was uvloop's. Upstreams are stubs on loopback (silent, late, truncating, closed).
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Coroutine
from typing import Any

import dns.asyncquery
import dns.message
import dns.rcode
import pytest
import uvloop
from dnslib import RCODE, DNSRecord

from dnsd.config import Config
from dnsd.forward import Forwarder
from dnsd.ops import prometheus
from dnsd.ops.metrics import Metrics
from dnsd.serve.listeners import DnsServer
from registry import Store
from tests.dnsd.forward.stub_upstream import Behaviour, StubUpstream

LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


def run(loop_name: str, main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=LOOPS[loop_name]) as runner:
        runner.run(main())


def descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def query(name: str, qid: int = 1) -> bytes:
    record = DNSRecord.question(name, "A")
    record.header.id = qid
    return bytes(record.pack())


def rcode(reply: bytes | None) -> int:
    assert reply is not None
    return reply[3] & 0x0F


async def stub(**behaviour: Any) -> StubUpstream:
    return (
        await StubUpstream(behaviour=Behaviour(**behaviour))
        .add("t.example. 60 IN A 192.0.2.1")
        .start()
    )


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_every_upstream_socket_is_closed_on_every_path(loop_name: str) -> None:
    async def main() -> None:
        silent, late, truncating = (
            await stub(drop=True),
            await stub(delay=0.15),
            await stub(truncate_udp=True),
        )
        slow_tcp = await stub(truncate_udp=True, tcp_delay=0.3)  # TCP retry times out
        closed = await stub()
        await closed.close()  # ICMP port unreachable: an error path
        stubs = [silent, late, truncating, slow_tcp]
        upstreams = [silent.address, late.address, closed.address, slow_tcp.address,
                     truncating.address]  # fmt: skip
        fwd = Forwarder(upstreams, Metrics(), timeout=0.05, deadline=0.4, cache_size=0,
                        max_in_flight=1000)  # fmt: skip
        baseline = descriptors()
        waiters = [fwd.forward(query(f"n{i}.example"), "127.0.0.1", False) for i in range(400)]
        for waiter in waiters[::3]:
            waiter.cancel()  # the client went away: the resolution goes on, then ends
        await asyncio.gather(*waiters, return_exceptions=True)
        cancelled = [fwd.forward(query(f"c{i}.example"), "127.0.0.1", False) for i in range(100)]
        await asyncio.sleep(0.02)
        await fwd.close()  # cancels resolutions in flight
        await asyncio.gather(*cancelled, return_exceptions=True)
        await asyncio.sleep(0.3)  # late replies arrive at sockets that must be gone
        assert fwd.stats()["in_flight"] == 0
        for _ in range(50):  # attempts still unwinding on a loaded machine: up to 5 s more
            if descriptors() <= baseline:
                break
            await asyncio.sleep(0.1)
        assert descriptors() <= baseline
        for s in stubs:
            await s.close()

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_beyond_the_cap_servfail_comes_at_once_and_is_counted(loop_name: str) -> None:
    async def main() -> None:
        silent = await stub(drop=True)
        metrics = Metrics()
        fwd = Forwarder([silent.address], metrics, timeout=10.0, deadline=30.0, max_in_flight=4)
        waiting = [fwd.forward(query(f"w{i}.example"), "127.0.0.1", False) for i in range(3)]
        waiting.append(fwd.forward(query("w0.example", qid=9), "127.0.0.1", False))  # shares one
        over = fwd.forward(query("over.example", qid=77), "127.0.0.1", False)
        assert over.done()  # decided on arrival, not after the 30 s deadline
        reply = over.result()
        assert (rcode(reply), reply[:2]) == (RCODE.SERVFAIL, b"\x00\x4d")  # type: ignore[index]
        assert metrics.forward_refused == 1
        assert "dnsd_forward_refused_total 1" in prometheus.render_metrics(metrics)
        assert fwd.stats()["in_flight"] == 4
        assert not any(w.done() for w in waiting)
        await fwd.close()
        await asyncio.gather(*waiting, return_exceptions=True)
        assert fwd.stats()["in_flight"] == 0
        assert not fwd.forward(query("again.example"), "127.0.0.1", False).done()  # room again
        await fwd.close()
        await silent.close()

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_deadline_counts_from_arrival(loop_name: str) -> None:
    """A query whose deadline passed while the loop was busy gets SERVFAIL without asking."""

    async def main() -> None:
        upstream = await stub()
        fwd = Forwarder([upstream.address], Metrics(), timeout=0.2, deadline=0.3)
        waiter = fwd.forward(query("t.example"), "127.0.0.1", False)
        time.sleep(0.4)  # the loop is stuck (a backlog) past the query's deadline
        assert rcode(await waiter) == RCODE.SERVFAIL
        assert upstream.count() == 0  # the old code started the clock late and asked anyway
        await fwd.close()
        await upstream.close()

    run(loop_name, main)


@pytest.mark.parametrize("loop_name", sorted(LOOPS))
def test_local_answers_while_upstreams_are_black_holed(loop_name: str) -> None:
    """A flood of unique forwarded names at a silent upstream: local names still answer,
    forwards beyond the cap get SERVFAIL at once, and descriptors stay near the cap."""

    async def main() -> None:
        silent = await stub(drop=True)
        metrics = Metrics()
        fwd = Forwarder([silent.address], metrics, timeout=10.0, deadline=30.0,
                        allow=["127.0.0.0/8"], max_in_flight=50)  # fmt: skip
        server = DnsServer(Config(docker=False, http_listen=None), Store(), metrics, fwd)
        await server.start([("127.0.0.1", 0)])
        address = server.bound[0]
        baseline = descriptors()
        flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flood.setblocking(False)
        for i in range(600):
            flood.sendto(query(f"u{i}.flood.example", qid=i), address)
            if i % 50 == 0:
                await asyncio.sleep(0)
        peak = descriptors()
        local = dns.message.make_query("docker.", "SOA")
        reply = await dns.asyncquery.udp(local, address[0], port=address[1], timeout=5.0)
        assert reply.rcode() == dns.rcode.NOERROR
        replies = await _replies(flood)
        flood.close()
        assert metrics.forward_refused == 550  # everything beyond the 50 in flight
        assert replies  # at once: the deadline is 30 s (the client's buffer may drop some)
        assert {rcode(r) for r in replies} == {RCODE.SERVFAIL}
        assert peak - baseline <= 50 + 5
        await server.close()
        await fwd.close()
        await silent.close()

    run(loop_name, main)


async def _replies(sock: socket.socket) -> list[bytes]:
    loop = asyncio.get_running_loop()
    replies = []
    while True:
        try:
            replies.append(await asyncio.wait_for(loop.sock_recv(sock, 4096), 1.0))
        except TimeoutError:
            return replies
