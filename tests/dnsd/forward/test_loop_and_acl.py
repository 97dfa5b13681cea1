"""Loop protection and the recursion ACL of the Forwarder, with real loopback sockets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable

import pytest
from dnslib import RCODE, DNSRecord

from dnsd.forward import Forwarder, default_allow
from dnsd.ops.metrics import Metrics
from dnsd.parsers import HostPort
from tests.dnsd.forward.stub_upstream import Behaviour, StubUpstream


class ForwardingShell(asyncio.DatagramProtocol):
    """A minimal stand-in for the DNS core: every datagram goes to `forward`."""

    def __init__(self, forwarder: Forwarder) -> None:
        self.forwarder = forwarder
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = await self.forwarder.forward(data, addr[0], False)
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


@pytest.fixture
async def looping() -> AsyncIterator[tuple[StubUpstream, Forwarder, Metrics, HostPort]]:
    """dnsd (a shell around a Forwarder) whose only upstream forwards back to dnsd."""
    loop = asyncio.get_running_loop()
    stub = await StubUpstream().start()
    metrics = Metrics()
    fwd = Forwarder([stub.address], metrics, timeout=1.0, deadline=3.0)
    transport, _ = await loop.create_datagram_endpoint(
        lambda: ForwardingShell(fwd), local_addr=("127.0.0.1", 0)
    )
    dnsd_address: HostPort = transport.get_extra_info("sockname")[:2]
    stub.behaviour = Behaviour(forward_to=dnsd_address)
    yield stub, fwd, metrics, dnsd_address
    transport.close()
    await fwd.close()
    await stub.close()


async def test_query_coming_back_through_the_upstream_is_answered_servfail(
    looping: tuple[StubUpstream, Forwarder, Metrics, HostPort],
) -> None:
    stub, fwd, metrics, _ = looping
    query = DNSRecord.question("loop.example.com", "A")
    raw = await asyncio.wait_for(fwd.forward(bytes(query.pack()), "127.0.0.1", False), 5.0)
    assert raw is not None
    assert DNSRecord.parse(raw).header.rcode == RCODE.SERVFAIL
    assert stub.count() == 1  # went round once, not amplified
    assert metrics.upstream_errors[("self", "loop")] == 1


def test_default_allow_is_loopback_only() -> None:
    fwd = Forwarder([("127.0.0.53", 53)], Metrics())
    assert default_allow() == ["127.0.0.0/8", "::1/128"]
    assert [fwd.allows(ip) for ip in ("127.0.0.1", "::1", "172.17.0.2", "8.8.8.8")] == [
        True,
        True,
        False,
        False,
    ]


@pytest.mark.parametrize(
    ("client", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", False),
        ("172.18.0.5", True),  # a Docker network subnet
        ("::ffff:172.18.0.5", True),  # the same client on a dual-stack socket
        ("172.19.0.5", False),
        ("10.1.2.3", True),  # --allow-recursion
        ("not-an-ip", False),
    ],
)
def test_clients_outside_allowed_ranges_may_not_recurse(client: str, allowed: bool) -> None:
    networks = frozenset({"172.18.0.0/16"})
    fwd = Forwarder(
        [("127.0.0.53", 53)],
        Metrics(),
        allow=["127.0.0.1/32", "10.0.0.0/8"],
        dynamic_allow=lambda: networks,
    )
    assert fwd.allows(client) is allowed


def test_new_docker_networks_are_allowed_as_they_appear() -> None:
    current: list[Iterable[str]] = [frozenset()]
    fwd = Forwarder([("127.0.0.53", 53)], Metrics(), dynamic_allow=lambda: current[0])
    assert not fwd.allows("172.30.0.2")
    current[0] = frozenset({"172.30.0.0/16"})
    assert fwd.allows("172.30.0.2")
    current[0] = frozenset()
    assert not fwd.allows("172.30.0.2")
