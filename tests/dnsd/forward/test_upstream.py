"""One exchange with one upstream over loopback: the matching reply, lies ignored, timeouts."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from dnslib import DNSRecord

from dnsd.forward.message import Question, parse_query
from dnsd.forward.upstream import SpoofedReply, exchange_tcp, exchange_udp
from tests.dnsd.forward.stub_upstream import Behaviour, StubUpstream

QID = 4321


def query(name: str = "www.example.org.") -> tuple[bytes, Question]:
    record = DNSRecord.question(name)
    record.header.id = QID
    packet = bytes(record.pack())
    question = parse_query(packet)
    assert question is not None
    return packet, question


@pytest.fixture
async def stub() -> AsyncIterator[StubUpstream]:
    upstream = await StubUpstream().add("www.example.org. 300 IN A 192.0.2.7").start()
    yield upstream
    await upstream.close()


def addresses(reply: bytes) -> list[str]:
    return [str(rr.rdata) for rr in DNSRecord.parse(reply).rr]


@pytest.mark.parametrize("lie", ["wrong_id_first", "wrong_question_first"])
async def test_udp_ignores_lies_and_returns_the_real_reply(stub: StubUpstream, lie: str) -> None:
    stub.behaviour = Behaviour(
        wrong_id_first=lie == "wrong_id_first", wrong_question_first=lie == "wrong_question_first"
    )
    mismatches: list[int] = []
    packet, question = query()
    reply = await exchange_udp(
        stub.address, packet, QID, question, 2.0, lambda: mismatches.append(1)
    )
    assert addresses(reply) == ["192.0.2.7"]
    assert mismatches == [1]


async def test_tcp_returns_the_reply(stub: StubUpstream) -> None:
    packet, question = query()
    assert addresses(await exchange_tcp(stub.address, packet, QID, question, 2.0)) == ["192.0.2.7"]


async def test_tcp_refuses_a_reply_to_another_question(stub: StubUpstream) -> None:
    packet, _ = query()
    _, other = query("other.example.org.")
    with pytest.raises(SpoofedReply, match="does not match"):
        await exchange_tcp(stub.address, packet, QID, other, 2.0)


async def test_a_silent_upstream_times_out(stub: StubUpstream) -> None:
    stub.behaviour = Behaviour(drop=True)
    packet, question = query()
    with pytest.raises(TimeoutError):
        await exchange_udp(stub.address, packet, QID, question, 0.2, lambda: None)


async def test_nobody_listening_is_a_network_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()
    packet, question = query()
    with pytest.raises((OSError, TimeoutError)):
        await exchange_udp(closed, packet, QID, question, 1.0, lambda: None)
    with pytest.raises(OSError):
        await exchange_tcp(closed, packet, QID, question, 1.0)
    await asyncio.sleep(0)
