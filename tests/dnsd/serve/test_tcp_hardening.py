"""Issue 9 against real listeners on loopback: TCP slowloris, broken framing, and the wire
defects seen by real clients (dnspython, dig)."""

from __future__ import annotations

import asyncio
import contextlib
import resource
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.tsig
import dns.tsigkeyring
import pytest

from dnsd.config import Config
from dnsd.core.framing import frame
from dnsd.ops.metrics import Metrics
from dnsd.serve.listeners import DnsServer
from registry import Endpoint, Resync, Store, Upsert
from tests.dnsd.core_support import answer_texts, crowd, endpoint, rcode_name, sample_endpoints

HOST = "127.0.0.1"
TIMEOUT = 5.0


@contextlib.asynccontextmanager
async def running(
    config: Config | None = None, endpoints: tuple[Endpoint, ...] = (), store: Store | None = None
) -> AsyncIterator[tuple[DnsServer, int]]:
    if store is None:
        store = Store()
        store.apply(Resync("test", endpoints or sample_endpoints()))
    server = DnsServer(config or Config(), store, Metrics())
    await server.start([(HOST, 0)])
    try:
        yield server, server.bound[0][1]
    finally:
        await server.close()


def good_query(name: str = "web-1.docker.", qid: int = 77) -> bytes:
    message = dns.message.make_query(name, "A")
    message.id = qid
    return message.to_wire()


def read_frames(sock: socket.socket, count: int = 0) -> tuple[list[bytes], bool]:
    """Every framed reply until the server closes the connection (or 5 s of silence, or
    `count` replies)."""
    data = b""
    closed = False
    sock.settimeout(TIMEOUT)
    try:
        while chunk := sock.recv(65535):
            data += chunk
            if count and len(_split(data)) >= count:
                break
        closed = True
    except ConnectionResetError:
        closed = True
    except TimeoutError:
        pass
    return _split(data), closed


def _split(data: bytes) -> list[bytes]:
    replies = []
    while len(data) >= 2:
        size = int.from_bytes(data[:2], "big")
        if len(data) < 2 + size:
            break
        replies.append(data[2 : 2 + size])
        data = data[2 + size :]
    return replies


# -- item 6 ---------------------------------------------------------------------


async def test_a_query_followed_by_a_zero_length_frame_is_still_answered() -> None:
    async with running() as (_, port):

        def exchange() -> tuple[list[bytes], bool]:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                sock.sendall(frame(good_query(qid=1)) + frame(good_query(qid=2)) + b"\x00\x00")
                return read_frames(sock)

        replies, closed = await asyncio.to_thread(exchange)
    assert closed  # the broken framing still ends the connection, after the answers
    assert [dns.message.from_wire(r).id for r in replies] == [1, 2]
    assert answer_texts(dns.message.from_wire(replies[0])) == ["10.0.0.1"]


# -- item 4 ---------------------------------------------------------------------


def closes_while_trickling(port: int, interval: float, limit: float) -> bool:
    """Send a query one byte every `interval` s; True if the server closes before `limit` s."""
    wire = frame(good_query()) * 100
    started = time.monotonic()
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
        sock.settimeout(interval)
        for i in range(len(wire)):
            if time.monotonic() - started > limit:
                return False
            try:
                sock.sendall(wire[i : i + 1])
                if sock.recv(65535) == b"":
                    return True
            except TimeoutError:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
    return False


async def test_a_message_trickled_byte_by_byte_is_cut_off_at_its_deadline() -> None:
    """Each byte arrives well inside the idle timeout; the message as a whole does not."""
    config = Config(tcp_idle_timeout=5.0, tcp_message_timeout=0.5)
    async with running(config) as (_, port):
        assert await asyncio.to_thread(closes_while_trickling, port, 0.05, 20.0)


async def test_a_client_answered_in_time_keeps_its_connection() -> None:
    config = Config(tcp_idle_timeout=5.0, tcp_message_timeout=0.5)
    async with running(config) as (_, port):

        def pipelined() -> int:
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                answered = 0
                for i in range(8):  # one query every 0.2 s, each sent whole
                    sock.sendall(frame(good_query(qid=i)))
                    sock.settimeout(TIMEOUT)
                    answered += len(sock.recv(65535)) > 2
                    time.sleep(0.2)
                return answered

        assert await asyncio.to_thread(pipelined) == 8


@pytest.fixture
def enough_descriptors() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2048:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))


@pytest.mark.timeout(120)
@pytest.mark.usefixtures("enough_descriptors")
async def test_a_normal_client_is_served_while_300_slow_connections_are_open() -> None:
    """Slowloris: 300 connections (the table holds 256) each sending a message one byte at a
    time. A normal TCP client still gets its answer: the slowest connections make room."""
    async with running(Config()) as (server, port):
        loop = asyncio.get_running_loop()
        slow: list[socket.socket] = []
        try:
            for _ in range(300):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setblocking(False)
                await loop.sock_connect(sock, (HOST, port))
                with contextlib.suppress(OSError):
                    sock.send(frame(good_query())[:1])
                slow.append(sock)
            await asyncio.sleep(0.2)
            for sock in slow:  # one more byte each: every connection keeps "active"
                with contextlib.suppress(OSError):
                    sock.send(frame(good_query())[1:2])
            assert len(server.connections) <= 256
            q = dns.message.make_query("web-1.docker.", "A")
            for _ in range(3):
                reply = await dns.asyncquery.tcp(q, HOST, port=port, timeout=TIMEOUT)
                assert answer_texts(reply) == ["10.0.0.1"]
        finally:
            for sock in slow:
                sock.close()


# -- items 8-11 with real clients ------------------------------------------------


async def test_a_signed_query_gets_badkey_from_a_real_server() -> None:
    keyring = dns.tsigkeyring.from_text({"key.example.": "MTIzNDU2Nzg5MDEyMzQ1Ng=="})
    async with running() as (_, port):
        for send in (dns.asyncquery.udp, dns.asyncquery.tcp):
            q = dns.message.make_query("web-1.docker.", "A")
            q.use_tsig(keyring, keyname="key.example.")
            with pytest.raises(dns.tsig.PeerBadKey):
                await send(q, HOST, port=port, timeout=TIMEOUT)


async def test_zone_transfers_are_refused_over_tcp() -> None:
    async with running() as (_, port):
        for rdtype in ("AXFR", "IXFR"):
            q = dns.message.make_query("docker.", rdtype)
            reply = await dns.asyncquery.tcp(q, HOST, port=port, timeout=TIMEOUT)
            assert rcode_name(reply) == "REFUSED"


async def test_any_is_small_over_udp_and_complete_over_tcp() -> None:
    async with running(endpoints=crowd(70)) as (_, port):
        q = dns.message.make_query("many.docker.", "ANY", use_edns=0, payload=4096)
        small = await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)
        assert len(small.to_wire()) < 3 * len(q.to_wire())
        assert not small.flags & dns.flags.TC
        whole = await dns.asyncquery.tcp(q, HOST, port=port, timeout=TIMEOUT)
        assert len(answer_texts(whole)) == 70


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig is not installed")
async def test_dig_sees_notimp_with_only_id_opcode_and_qr() -> None:
    async with running() as (_, port):

        def dig(*args: str) -> str:
            cmd = ["dig", f"@{HOST}", "-p", str(port), "+time=3", "+tries=1", *args]
            return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout

        notify = await asyncio.to_thread(dig, "+opcode=notify", "+cd", "web-1.docker")
        assert "status: NOTIMP" in notify and "flags: qr;" in notify


def raw_name(*labels: bytes) -> bytes:
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


async def test_overlong_labels_and_names_get_formerr_over_udp_and_tcp() -> None:
    """dig and dnspython refuse to send these names, so the bytes are written by hand."""
    names = [
        raw_name(b"a" * 64, b"docker"),
        raw_name(b"a" * 64, b"example", b"com"),
        raw_name(*[b"b" * 50] * 5, b"docker"),
    ]
    async with running() as (_, port):

        def exchange(qname: bytes) -> tuple[dns.message.Message, dns.message.Message]:
            wire = struct.pack("!HHHHHH", 99, 0x0100, 1, 0, 0, 0) + qname + b"\x00\x01\x00\x01"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.settimeout(TIMEOUT)
                sock.sendto(wire, (HOST, port))
                over_udp = dns.message.from_wire(sock.recv(65535))
            with socket.create_connection((HOST, port), timeout=TIMEOUT) as sock:
                sock.sendall(frame(wire))
                over_tcp = dns.message.from_wire(read_frames(sock, 1)[0][0])
            return over_udp, over_tcp

        for qname in names:
            for message in await asyncio.to_thread(exchange, qname):
                assert rcode_name(message) == "FORMERR" and message.id == 99


# -- items 14 and 15 -------------------------------------------------------------


async def test_before_the_first_docker_sync_unknown_names_get_servfail_not_nxdomain() -> None:
    store = Store(pending={"docker"})
    store.apply(Resync("test", sample_endpoints()))
    async with running(store=store) as (_, port):
        for _ in range(2):  # the second would be a hot-path hit
            q = dns.message.make_query("new.docker.", "A")
            reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)
            assert rcode_name(reply) == "SERVFAIL"
        q = dns.message.make_query("web-1.docker.", "A")
        assert answer_texts(await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)) == [
            "10.0.0.1"
        ]
        store.apply(Resync("docker", (endpoint("new", "10.8.8.8", source="docker"),)))
        q = dns.message.make_query("new.docker.", "A")
        reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)
        assert answer_texts(reply) == ["10.8.8.8"]
        q = dns.message.make_query("gone.docker.", "A")
        reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)
        assert reply.rcode() == dns.rcode.NXDOMAIN


async def soa_serial(port: int) -> int:
    q = dns.message.make_query("docker.", "SOA")
    reply = await dns.asyncquery.udp(q, HOST, port=port, timeout=TIMEOUT)
    return int(next(iter(reply.answer[0])).serial)


def serial_ge(a: int, b: int) -> bool:
    """RFC 1982: a is b or comes after it."""
    return a == b or (0 < (a - b) % 2**32 < 2**31)


async def test_the_soa_serial_does_not_go_back_after_a_restart() -> None:
    """3,000 registry changes in a moment, then a restart (a new store and server)."""
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    async with running(store=store) as (_, port):
        for i in range(3000):  # one endpoint changing address: 3,000 versions
            store.apply(Upsert(endpoint("churn", f"10.1.{i // 250}.{i % 250 + 1}")))
        before = await soa_serial(port)
    async with running() as (_, port):
        after = await soa_serial(port)
    assert serial_ge(after, before), (before, after)


@pytest.mark.timeout(60)
async def test_a_client_that_never_reads_is_held_back_and_others_are_served() -> None:
    """4,000 pipelined queries with ~1 KB answers each, never reading a reply: the server stops
    reading that client (its replies stay under the 256 KiB cap) and serves everyone else."""
    async with running(Config(tcp_idle_timeout=1.0), endpoints=crowd(60)) as (server, port):
        hog = socket.create_connection((HOST, port), timeout=TIMEOUT)
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)

        def flood() -> int:
            q = dns.message.make_query("many.docker.", "A").to_wire()
            hog.settimeout(1.0)
            with contextlib.suppress(TimeoutError, ConnectionResetError, BrokenPipeError):
                hog.sendall(frame(q) * 4000)
            return max(
                (c._transport.get_write_buffer_size() for c in server.connections if c._transport),
                default=0,
            )

        try:
            buffered = await asyncio.to_thread(flood)
            assert buffered <= 256 * 1024 + 65535
            q = dns.message.make_query("many.docker.", "A")
            reply = await dns.asyncquery.tcp(q, HOST, port=port, timeout=TIMEOUT)
            assert len(answer_texts(reply)) == 60
        finally:
            hog.close()
