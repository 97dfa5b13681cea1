"""Real listeners on ephemeral loopback ports, queried with dnspython and dig."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import AsyncIterator, Callable

import dns.asyncquery
import dns.flags
import dns.message
import dns.query
import pytest

from dnsd.config import Config
from dnsd.core.framing import Deframer, frame
from dnsd.ops.metrics import Metrics
from dnsd.serve.listeners import BindError, DnsServer
from dnsd.serve.pipeline import ForwardHandler
from registry import Endpoint, Resync, Store, Upsert
from tests.dnsd.core_support import answer_texts, crowd, endpoint, rcode_name, sample_endpoints
from tests.serve_process import ipv6_loopback

HOST = "127.0.0.1"
TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def running(
    config: Config | None = None,
    endpoints: tuple[Endpoint, ...] = (),
    forwarder: ForwardHandler | None = None,
) -> AsyncIterator[tuple[DnsServer, Store, Metrics, int]]:
    store = Store()
    store.apply(Resync("test", endpoints or sample_endpoints()))
    metrics = Metrics()
    server = DnsServer(config or Config(), store, metrics, forwarder)
    await server.start([(HOST, 0)])
    try:
        yield server, store, metrics, server.bound[0][1]
    finally:
        await server.close()


async def udp(name: str, port: int, rdtype: str = "A", **kw: object) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    return await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT, ignore_trailing=False)


async def tcp(name: str, port: int, rdtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    return await dns.asyncquery.tcp(q, HOST, port=port, timeout=TIMEOUT)


async def test_binds_one_port_for_udp_and_tcp_and_answers_both() -> None:
    async with running() as (server, _, metrics, port):
        assert server.listeners == [f"udp {HOST}:{port}", f"tcp {HOST}:{port}"]
        assert port != 0
        assert set(answer_texts(await udp("web.docker.", port))) == {"10.0.0.1", "10.0.0.2"}
        assert set(answer_texts(await tcp("web.docker.", port))) == {"10.0.0.1", "10.0.0.2"}
        assert metrics.queries[("A", "NOERROR", "local")] == 2


async def test_round_robin_over_udp() -> None:
    async with running(endpoints=crowd(4)) as (_, _, _, port):
        leaders = [answer_texts(await udp("many.docker.", port))[0] for _ in range(8)]
    assert all(a != b for a, b in itertools.pairwise(leaders))


async def test_a_registry_change_is_answered_on_the_next_query() -> None:
    async with running() as (_, store, _, port):
        assert answer_texts(await udp("web-1.docker.", port)) == ["10.0.0.1"]
        store.apply(Upsert(endpoint("web-1", "10.0.0.66")))
        assert answer_texts(await udp("web-1.docker.", port)) == ["10.0.0.66"]


async def test_hundred_endpoints_truncate_over_udp_and_arrive_whole_over_tcp() -> None:
    async with running(endpoints=crowd(100)) as (_, _, _, port):
        q = dns.message.make_query("many.docker.", "A", use_edns=0, payload=1232)
        truncated = await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)
        assert truncated.flags & dns.flags.TC
        assert not truncated.answer and truncated.question[0].name.to_text() == "many.docker."
        assert truncated.edns == 0
        whole = await dns.asyncquery.tcp(q, HOST, port=port, timeout=TIMEOUT)
        assert len(answer_texts(whole)) == 100
        assert not whole.flags & dns.flags.TC


def read_replies(sock: socket.socket, count: int) -> list[dns.message.Message]:
    deframer = Deframer()
    out: list[dns.message.Message] = []
    while len(out) < count:
        chunk = sock.recv(65535)
        assert chunk, "connection closed early"
        out += [dns.message.from_wire(m) for m in deframer.feed(chunk)]
    return out


async def test_pipelined_queries_on_one_tcp_connection() -> None:
    names = ["web-1.docker.", "nope.docker.", "db.docker.", "web-1.docker.", "v6only.docker."]
    async with running() as (_, _, _, port):

        def exchange() -> list[dns.message.Message]:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                wire = b"".join(frame(dns.message.make_query(n, "A").to_wire()) for n in names)
                sock.sendall(wire)
                return read_replies(sock, len(names))

        replies = await asyncio.to_thread(exchange)
    assert [r.question[0].name.to_text() for r in replies] == names
    assert [rcode_name(r) for r in replies] == ["NOERROR", "NXDOMAIN", "NOERROR"] * 1 + [
        "NOERROR",
        "NOERROR",
    ]


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


async def test_idle_tcp_connections_are_closed() -> None:
    config = Config(tcp_idle_timeout=0.3)
    async with running(config) as (_, _, _, port):

        def idle() -> bool:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                sock.sendall(frame(dns.message.make_query("web-1.docker.", "A").to_wire()))
                read_replies(sock, 1)
                return closed_by_server(sock)  # blocks until the server gives up on us

        assert await asyncio.to_thread(idle)


async def test_connections_beyond_the_cap_close_the_idlest() -> None:
    """At the cap a new connection is served and the one idle longest is closed (issue 9:
    refusing the newcomer let idle or slow clients shut everyone else out)."""
    config = Config(tcp_max_connections=2)
    async with running(config) as (server, _, _, port):
        held = [socket.create_connection((HOST, port), timeout=TIMEOUT) for _ in range(2)]
        try:
            for _ in range(100):
                if len(server.connections) == 2:
                    break
                await asyncio.sleep(0.02)
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as extra:

                def ask() -> list[dns.message.Message]:
                    extra.sendall(frame(dns.message.make_query("web-1.docker.", "A").to_wire()))
                    return read_replies(extra, 1)

                assert answer_texts((await asyncio.to_thread(ask))[0]) == ["10.0.0.1"]
                assert await asyncio.to_thread(closed_by_server, held[0])  # the idlest
                assert len(server.connections) == 2
            assert answer_texts(await udp("web-1.docker.", port)) == ["10.0.0.1"]
        finally:
            for sock in held:
                sock.close()


async def test_port_in_use_names_the_address_and_the_fix() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))
        port = taken.getsockname()[1]
        server = DnsServer(Config(), Store(), Metrics())
        with pytest.raises(BindError, match=rf"udp {HOST}:{port}.*--dns-listen"):
            await server.start([(HOST, port)])
        await server.close()


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
async def test_dig_as_an_independent_client() -> None:
    async with running() as (_, _, _, port):

        def dig(*args: str) -> str:
            cmd = ["dig", f"@{HOST}", "-p", str(port), "+time=3", "+tries=1", *args]
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout

        short = await asyncio.to_thread(dig, "+short", "web.docker")
        assert set(short.split()) == {"10.0.0.1", "10.0.0.2"}
        full = await asyncio.to_thread(dig, "nope.docker")
        assert "status: NXDOMAIN" in full and "flags: qr aa rd" in full
        assert "SOA" in full
        ptr = await asyncio.to_thread(dig, "+short", "-x", "10.0.0.2")
        assert ptr.strip() == "web-2.docker."
        over_tcp = await asyncio.to_thread(dig, "+tcp", "+short", "WEB-1.docker")
        assert over_tcp.strip() == "10.0.0.1"


# -- the forwarding seam ------------------------------------------------------


@dataclasses.dataclass
class FakeForwarder:
    allowed: bool = True
    cache: dict[str, bytes] = dataclasses.field(default_factory=dict)
    upstream_answer: str = "192.0.2.55"
    upstream_records: int = 1
    hold: asyncio.Event | None = None
    seen: list[tuple[str, bool]] = dataclasses.field(default_factory=list)
    cancelled: int = 0
    cached_until: float = 0.0  # hits are not kept in the fast path (tests of the chain itself)
    clock: Callable[[], float] = time.monotonic

    def allows(self, client_ip: str) -> bool:
        return self.allowed

    def recursion_decisions(self) -> dict[str, bool]:
        return {}  # the C hit path serves no kept forwarding-cache hit (none are kept here)

    def cached_reply(self, query: bytes) -> bytes | None:
        message = dns.message.from_wire(query)
        found = self.cache.get(message.question[0].name.to_text())
        return query[:2] + found[2:] if found is not None else None  # with the query's ID

    async def forward(self, query: bytes, client_ip: str, via_tcp: bool) -> bytes | None:
        self.seen.append((client_ip, via_tcp))
        if self.hold is not None:
            try:
                await self.hold.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        message = dns.message.from_wire(query)
        reply = dns.message.make_response(message)
        for i in range(self.upstream_records):
            address = self.upstream_answer if i == 0 else f"198.51.100.{i % 250}"
            reply.answer.append(
                dns.rrset.from_text(message.question[0].name, 60, "IN", "A", address)
            )
        return reply.to_wire()


def cached_wire(name: str, address: str) -> bytes:
    q = dns.message.make_query(name, "A")
    reply = dns.message.make_response(q)
    reply.answer.append(dns.rrset.from_text(name, 30, "IN", "A", address))
    return reply.to_wire()


async def test_not_local_names_go_to_the_forwarder() -> None:
    fwd = FakeForwarder()
    async with running(forwarder=fwd) as (_, _, metrics, port):
        reply = await udp("example.com.", port)
        assert answer_texts(reply) == ["192.0.2.55"]
        assert answer_texts(await tcp("example.com.", port)) == ["192.0.2.55"]
        local = await udp("web-1.docker.", port)
        assert answer_texts(local) == ["10.0.0.1"]
        assert local.flags & dns.flags.RA  # recursion is available through dnsd
    assert fwd.seen == [(HOST, False), (HOST, True)]
    assert metrics.queries[("A", "NOERROR", "upstream")] == 2
    assert metrics.queries[("A", "NOERROR", "local")] == 1


async def test_cached_forwarded_replies_are_sent_without_a_task() -> None:
    fwd = FakeForwarder(cache={"cached.example.": cached_wire("cached.example.", "192.0.2.9")})
    async with running(forwarder=fwd) as (_, _, metrics, port):
        assert answer_texts(await udp("cached.example.", port)) == ["192.0.2.9"]
    assert fwd.seen == []
    assert metrics.queries[("A", "NOERROR", "cache")] == 1


async def test_repeated_cache_hits_take_the_udp_branch_with_counts_and_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dnsd.serve.pipeline")
    fwd = FakeForwarder(cache={"cached.example.": cached_wire("cached.example.", "192.0.2.9")})
    async with running(Config(query_log=True), forwarder=fwd) as (_, _, metrics, port):
        for _ in range(3):  # the first fills the hot path's table, the rest hit it
            assert answer_texts(await udp("cached.example.", port)) == ["192.0.2.9"]
    assert fwd.seen == []
    assert metrics.queries[("A", "NOERROR", "cache")] == 3
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("query ")]
    assert lines == [f"query {HOST} cached.example. A -> NOERROR (cache)"] * 3


async def test_cache_hits_are_counted_by_their_own_type_and_rcode() -> None:
    def nxdomain(name: str, rdtype: str) -> bytes:
        reply = dns.message.make_response(dns.message.make_query(name, rdtype))
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply.to_wire()

    fwd = FakeForwarder(
        cache={
            "cached.example.": cached_wire("cached.example.", "192.0.2.9"),
            "missing.example.": nxdomain("missing.example.", "A"),
            "nomx.example.": nxdomain("nomx.example.", "MX"),
        }
    )
    async with running(forwarder=fwd) as (_, _, metrics, port):
        for _ in range(2):  # fills, then hits, for each (type, rcode)
            assert answer_texts(await udp("cached.example.", port)) == ["192.0.2.9"]
            assert (await udp("missing.example.", port)).rcode() == dns.rcode.NXDOMAIN
            assert (await udp("nomx.example.", port, "MX")).rcode() == dns.rcode.NXDOMAIN
    assert fwd.seen == []
    assert metrics.queries[("A", "NOERROR", "cache")] == 2
    assert metrics.queries[("A", "NXDOMAIN", "cache")] == 2
    assert metrics.queries[("MX", "NXDOMAIN", "cache")] == 2


async def test_a_cache_miss_after_hits_still_goes_upstream() -> None:
    fwd = FakeForwarder(cache={"gone.example.": cached_wire("gone.example.", "192.0.2.9")})
    async with running(forwarder=fwd) as (_, _, metrics, port):
        for _ in range(2):
            assert answer_texts(await udp("gone.example.", port)) == ["192.0.2.9"]
        fwd.cache.clear()  # expired or evicted
        assert answer_texts(await udp("gone.example.", port)) == ["192.0.2.55"]
    assert fwd.seen == [(HOST, False)]
    assert metrics.queries[("A", "NOERROR", "cache")] == 2
    assert metrics.queries[("A", "NOERROR", "upstream")] == 1


async def test_large_cached_replies_are_truncated_for_udp_clients() -> None:
    big = dns.message.make_response(dns.message.make_query("big.example.", "A"))
    for i in range(60):
        big.answer.append(dns.rrset.from_text("big.example.", 30, "IN", "A", f"198.51.100.{i}"))
    fwd = FakeForwarder(cache={"big.example.": big.to_wire()})
    async with running(forwarder=fwd) as (_, _, metrics, port):
        for _ in range(2):
            reply = await udp("big.example.", port)
            assert reply.flags & dns.flags.TC and not reply.answer
        wide = await udp("big.example.", port, use_edns=0, payload=4096)
        assert len(answer_texts(wide)) == 60 and not wide.flags & dns.flags.TC
    assert fwd.seen == []
    assert metrics.queries[("A", "NOERROR", "cache")] == 3


async def test_cached_answers_are_refused_to_clients_outside_the_acl() -> None:
    fwd = FakeForwarder(cache={"cached.example.": cached_wire("cached.example.", "192.0.2.9")})
    async with running(forwarder=fwd) as (_, _, metrics, port):
        assert answer_texts(await udp("cached.example.", port)) == ["192.0.2.9"]
        fwd.allowed = False  # e.g. the client's Docker network went away
        for _ in range(2):
            assert rcode_name(await udp("cached.example.", port)) == "REFUSED"
    assert metrics.queries[("A", "REFUSED", "local")] == 2


async def test_clients_outside_the_acl_are_refused() -> None:
    async with running(forwarder=FakeForwarder(allowed=False)) as (_, _, _, port):
        reply = await udp("example.com.", port)
        assert rcode_name(reply) == "REFUSED"
        assert answer_texts(await udp("web-1.docker.", port)) == ["10.0.0.1"]


async def test_large_forwarded_replies_are_truncated_for_udp() -> None:
    fwd = FakeForwarder(upstream_records=60)
    async with running(forwarder=fwd) as (_, _, _, port):
        reply = await udp("big.example.", port)
        assert reply.flags & dns.flags.TC and not reply.answer
        assert len(answer_texts(await tcp("big.example.", port))) == 60


async def test_close_cancels_forwards_in_flight() -> None:
    fwd = FakeForwarder(hold=asyncio.Event())
    async with running(forwarder=fwd) as (server, _, _, port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(dns.message.make_query("slow.example.", "A").to_wire(), (HOST, port))
            for _ in range(100):
                if fwd.seen:
                    break
                await asyncio.sleep(0.02)
            assert fwd.seen
    assert fwd.cancelled == 1  # close() cancelled the forward it was waiting on
    assert server.bound == [] and server.listeners == []


async def test_servfail_from_a_crashing_forwarder_keeps_the_server_alive() -> None:
    class Broken(FakeForwarder):
        async def forward(self, query: bytes, client_ip: str, via_tcp: bool) -> bytes | None:
            raise RuntimeError("upstream code bug")

    async with running(forwarder=Broken()) as (_, _, _, port):
        assert rcode_name(await udp("example.com.", port)) == "SERVFAIL"
        assert answer_texts(await udp("web-1.docker.", port)) == ["10.0.0.1"]


async def test_short_and_response_packets_are_dropped_and_counted() -> None:
    async with running() as (_, _, metrics, port):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"\x00\x01", (HOST, port))
            reply = dns.message.make_response(dns.message.make_query("x.docker.", "A"))
            sock.sendto(reply.to_wire(), (HOST, port))
        assert answer_texts(await udp("web-1.docker.", port)) == ["10.0.0.1"]
        assert metrics.dropped_packets == 2


async def test_tcp_message_with_a_bad_header_gets_formerr_and_the_connection_lives() -> None:
    async with running() as (_, _, _, port):

        def exchange() -> list[dns.message.Message]:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                bad = struct.pack("!HHHHHH", 9, 0x0100, 2, 0, 0, 0)
                good = dns.message.make_query("web-1.docker.", "A").to_wire()
                sock.sendall(frame(bad) + frame(good))
                return read_replies(sock, 2)

        bad_reply, good_reply = await asyncio.to_thread(exchange)
    assert rcode_name(bad_reply) == "FORMERR"
    assert answer_texts(good_reply) == ["10.0.0.1"]


async def test_query_log_names_client_name_type_and_rcode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dnsd.serve.pipeline")
    async with running(Config(query_log=True)) as (_, _, _, port):
        for _ in range(2):  # a miss, then a hot-path hit: both are logged
            await udp("web-1.docker.", port)
        await udp("nope.docker.", port)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("query ")]
    assert lines == [
        f"query {HOST} web-1.docker. A -> NOERROR (local)",
        f"query {HOST} web-1.docker. A -> NOERROR (local)",
        f"query {HOST} nope.docker. A -> NXDOMAIN (local)",
    ]


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_listener() -> None:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    server = DnsServer(Config(), store, Metrics())
    await server.start([("::1", 0)])
    try:
        port = server.bound[0][1]
        assert server.listeners == [f"udp [::1]:{port}", f"tcp [::1]:{port}"]
        q = dns.message.make_query("web-1.docker.", "A")
        reply = await dns.asyncquery.udp(q, "::1", port=port, timeout=TIMEOUT)
        assert answer_texts(reply) == ["10.0.0.1"]
    finally:
        await server.close()
        await server.close()  # closing twice is harmless
