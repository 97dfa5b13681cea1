"""Fuzzing the wire layer, the hot path, TCP framing and a running server against the rules
every input must keep (issue 9): nothing raises, no reply to QR=1 or to fewer than 12 bytes,
every reply echoes the ID and stays within the UDP limit, every name in it is at most 255
octets, and the server answers a normal query afterwards.

Bounded for CI (a few seconds); `python -m bench.fuzz` runs the same checks for longer.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import socket

import dns.asyncquery
import dns.message
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsd.config import Config
from dnsd.core.framing import frame
from dnsd.core.wire import handle_wire
from dnsd.ops.metrics import Metrics
from dnsd.serve.fastpath import FastPath, keep
from dnsd.serve.listeners import DnsServer
from registry import Resync, Store
from tests.dnsd.core_support import SETTINGS, answer_texts, crowd, sample_endpoints, snapshot_of
from tests.dnsd.fuzz_support import (
    SEEDS,
    check_deframing,
    check_reply,
    check_udp,
    crafted,
    packets,
    wire_name,
)

SNAP = snapshot_of(*sample_endpoints(), *crowd(70))
FORWARDING = dataclasses.replace(SETTINGS, recursion=True)
LIMIT = SETTINGS.max_udp_size
FUZZ = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # the same examples on every CI run; bench.fuzz explores further
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_the_wire_layer_keeps_the_invariants_on_seeded_packets() -> None:
    for i, packet in enumerate(packets(20_000, seed=9)):
        settings_ = FORWARDING if i % 2 else SETTINGS
        check_udp(packet, handle_wire(packet, SNAP, settings_), LIMIT)
        over_tcp = handle_wire(packet, SNAP, settings_, udp=False)
        if hasattr(over_tcp, "data"):
            check_reply(packet, over_tcp.data, 65535, udp=False)


def test_the_hot_path_keeps_them_on_first_and_repeated_packets() -> None:
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(70))))
    fast = FastPath(store, FORWARDING, Metrics().queries, keep)
    for packet in packets(10_000, seed=10):
        for _ in range(2):  # the second time may be a hit
            check_udp(packet, fast.udp(packet, "192.0.2.1"), LIMIT)


@FUZZ
@given(st.binary(max_size=400))
def test_any_bytes(packet: bytes) -> None:
    check_udp(packet, handle_wire(packet, SNAP, FORWARDING), LIMIT)


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    """A header, a question and records drawn field by field."""
    flags = draw(st.integers(0, 0xFFFF))
    labels = draw(st.lists(st.binary(min_size=1, max_size=70), max_size=6))
    if draw(st.booleans()):
        labels.append(b"docker")
    records = draw(st.lists(st.sampled_from(SEEDS).map(lambda s: s[-22:]), max_size=3))
    counts = draw(st.tuples(*[st.integers(0, 3)] * 4))
    qtype = draw(st.sampled_from([1, 28, 33, 12, 6, 255, 251, 252, 250, 41, 65, 65535]))
    head = draw(st.integers(0, 0xFFFF)).to_bytes(2, "big") + flags.to_bytes(2, "big")
    head += b"".join(c.to_bytes(2, "big") for c in counts)
    return head + wire_name(labels) + qtype.to_bytes(2, "big") + b"\x00\x01" + b"".join(records)


@FUZZ
@given(structured())
def test_structured_queries(packet: bytes) -> None:
    check_udp(packet, handle_wire(packet, SNAP, FORWARDING), LIMIT)
    check_udp(packet, handle_wire(packet, SNAP, SETTINGS), LIMIT)


def test_tcp_framing_keeps_every_message_in_order() -> None:
    rng = random.Random(11)
    for _ in range(500):
        messages = [rng.randbytes(rng.randint(1, 1500)) for _ in range(rng.randint(0, 8))]
        check_deframing(rng, messages)


# -- a running server -----------------------------------------------------------


def udp_exchange(port: int, batch: list[bytes]) -> list[bytes]:
    """Send `batch`, collect what comes back until 0.3 s of silence."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for packet in batch:
            if packet:
                sock.sendto(packet, ("127.0.0.1", port))
        sock.settimeout(0.3)
        try:
            while True:
                replies.append(sock.recv(65535))
        except TimeoutError:
            return replies


def tcp_exchange(port: int, stream: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.settimeout(2)
        try:
            sock.sendall(stream)
            sock.shutdown(socket.SHUT_WR)  # the server answers what it can, then closes
            while sock.recv(65535):
                pass
        except (TimeoutError, ConnectionResetError, BrokenPipeError):
            pass


@pytest.mark.timeout(120)
async def test_a_running_server_keeps_the_invariants_and_answers_afterwards() -> None:
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(70))))
    server = DnsServer(Config(tcp_idle_timeout=1.0), store, Metrics())
    await server.start([("127.0.0.1", 0)])
    port = server.bound[0][1]
    try:
        hostile = list(packets(1_500, seed=12))
        droppable = [p for p in hostile if len(p) < 12 or p[2] & 0x80]
        assert await asyncio.to_thread(udp_exchange, port, [p for p in droppable if p]) == []
        answerable = [p for p in hostile if p not in droppable]
        by_id = {p[:2]: p for p in answerable}
        for start in range(0, len(answerable), 500):
            batch = answerable[start : start + 500]
            for data in await asyncio.to_thread(udp_exchange, port, batch):
                check_reply(by_id[data[:2]], data, LIMIT)
        rng = random.Random(13)
        for start in range(0, 400, 40):  # framed hostile queries, and framing garbage
            framed = b"".join(frame(p) for p in answerable[start : start + 40])
            await asyncio.to_thread(tcp_exchange, port, framed)
            await asyncio.to_thread(tcp_exchange, port, rng.randbytes(rng.randint(1, 3000)))
        q = dns.message.make_query("web-1.docker.", "A")
        for send in (dns.asyncquery.udp, dns.asyncquery.tcp):
            reply = await send(q, "127.0.0.1", port=port, timeout=5)
            assert answer_texts(reply) == ["10.0.0.1"]
    finally:
        await server.close()


def test_crafted_packets_cover_the_edge_cases() -> None:
    """The generator reaches the rules it is meant to test (not a check of dnsd)."""
    rng = random.Random(1)
    sample = [crafted(rng) for _ in range(500)]
    assert any(b"\x40" + b"x" * 64 in p for p in sample)  # a 64-octet label
    assert any(p[2] & 0x78 for p in sample)  # other opcodes
    assert any(b"\x00\xfa\x00\xff" in p for p in sample)  # TSIG records
