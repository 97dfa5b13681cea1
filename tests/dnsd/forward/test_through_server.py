"""End to end: the real DNS server with a Forwarder, queried with dnspython over loopback.

127.0.0.1 is an allowed client; 127.0.0.2 (another loopback address, outside
the configured range) must get REFUSED for non-local names while local names
still answer. The upstream is a stub on loopback.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from dnsd.config import Config
from dnsd.forward import Forwarder
from dnsd.ops.metrics import Metrics
from dnsd.parsers import HostPort
from dnsd.serve.listeners import DnsServer
from registry import Store
from tests.dnsd.forward.stub_upstream import StubUpstream

INSIDE, OUTSIDE = "127.0.0.1", "127.0.0.2"


@pytest.fixture
async def dnsd() -> AsyncIterator[tuple[HostPort, StubUpstream, Metrics]]:
    stub = (
        await StubUpstream()
        .add(
            "pypi.example.org. 300 IN A 192.0.2.44",
            'pypi.example.org. 300 IN TXT "hello"',
            "example.org. 300 IN MX 10 mx.example.org.",
            *(f'big.example.org. 300 IN TXT "{n:02d}{"x" * 98}"' for n in range(20)),
        )
        .start()
    )
    config = Config(docker=False, http_listen=None)
    metrics = Metrics()
    forwarder = Forwarder(
        [stub.address],
        metrics,
        timeout=config.upstream_timeout,
        deadline=config.forward_deadline,
        cache_size=config.cache_size,
        cache_max_ttl=config.cache_max_ttl,
        serve_stale=config.serve_stale,
        allow=["127.0.0.1/32"],
    )
    server = DnsServer(config, Store(), metrics, forwarder)
    await server.start([(INSIDE, 0)])
    yield server.bound[0], stub, metrics
    await server.close()
    await forwarder.close()
    await stub.close()


async def ask(address: HostPort, name: str, qtype: str, source: str) -> dns.message.Message:
    query = dns.message.make_query(name, qtype)
    host, port = address
    return await dns.asyncquery.udp(query, host, port=port, source=source, timeout=5.0)


@pytest.mark.parametrize(
    ("name", "qtype", "expected"),
    [
        ("pypi.example.org", "A", "192.0.2.44"),
        ("pypi.example.org", "TXT", '"hello"'),
        ("example.org", "MX", "10 mx.example.org."),
    ],
)
async def test_allowed_client_gets_upstream_answers(
    dnsd: tuple[HostPort, StubUpstream, Metrics], name: str, qtype: str, expected: str
) -> None:
    address, _, _ = dnsd
    reply = await ask(address, name, qtype, INSIDE)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [rd.to_text() for rrset in reply.answer for rd in rrset] == [expected]
    assert reply.flags & dns.flags.RA


async def test_second_query_comes_from_the_cache(
    dnsd: tuple[HostPort, StubUpstream, Metrics],
) -> None:
    address, stub, metrics = dnsd
    first = await ask(address, "pypi.example.org", "A", INSIDE)
    second = await ask(address, "PyPI.example.org", "A", INSIDE)
    assert first.answer == second.answer
    assert stub.count() == 1
    assert metrics.cache_hits == 1


async def test_nxdomain_reaches_the_client(dnsd: tuple[HostPort, StubUpstream, Metrics]) -> None:
    address, _, _ = dnsd
    reply = await ask(address, "missing.example.org", "A", INSIDE)
    assert reply.rcode() == dns.rcode.NXDOMAIN
    assert [rrset.rdtype for rrset in reply.authority] == [dns.rdatatype.SOA]


async def test_client_outside_the_allowed_range_is_refused(
    dnsd: tuple[HostPort, StubUpstream, Metrics],
) -> None:
    address, stub, _ = dnsd
    reply = await ask(address, "pypi.example.org", "A", OUTSIDE)
    assert reply.rcode() == dns.rcode.REFUSED
    assert stub.count() == 0


async def test_client_outside_the_allowed_range_still_gets_local_names(
    dnsd: tuple[HostPort, StubUpstream, Metrics],
) -> None:
    address, _, _ = dnsd
    reply = await ask(address, "docker.", "SOA", OUTSIDE)
    assert reply.rcode() == dns.rcode.NOERROR
    assert [rrset.rdtype for rrset in reply.answer] == [dns.rdatatype.SOA]


async def test_large_answer_truncated_over_udp_is_whole_over_tcp(
    dnsd: tuple[HostPort, StubUpstream, Metrics],
) -> None:
    address, _, _ = dnsd
    query = dns.message.make_query("big.example.org", "TXT")
    host, port = address
    over_udp = await dns.asyncquery.udp(query, host, port=port, timeout=5.0)
    over_tcp = await dns.asyncquery.tcp(query, host, port=port, timeout=5.0)
    assert over_udp.flags & dns.flags.TC
    assert over_tcp.rcode() == dns.rcode.NOERROR
    assert sum(len(rrset) for rrset in over_tcp.answer) == 20
