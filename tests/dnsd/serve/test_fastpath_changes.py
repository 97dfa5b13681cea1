"""A registry change through the real UDP server: every question form the change alters is
answered fresh on the very next query, and the cached replies it cannot alter stay cached."""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import dns.asyncquery
import dns.message
import pytest

from dnsd.config import Config
from dnsd.core.wire import Decision, Forward, Reply
from dnsd.ops.metrics import Metrics
from dnsd.serve.fastpath import FastPath, keep
from dnsd.serve.listeners import DnsServer
from registry import Address, Endpoint, Event, NameClaim, Origin, Port, Remove, Resync, Scope, Store
from registry import Upsert as Up
from tests.dnsd.core_support import SETTINGS, endpoint, parse, query, sample_endpoints

HOST = "127.0.0.1"  # also the asking client's address
BYSTANDER = "127.0.0.2"  # a client the changes do not concern (its own view stays)
HTTP = (Port(80, "tcp", "http"),)
Summary = tuple[str, tuple[str, ...]]
Question = tuple[str, str]
BASE = (
    *sample_endpoints(),
    endpoint("other", "10.0.3.3"),
    endpoint("svc-front", "10.1.0.5", keys=("svc2",), network="front"),
    endpoint("svc-back", "10.2.0.5", keys=("svc2",), network="back"),
)
UNTOUCHED: list[Question] = [("other.docker.", "A"), ("nope.docker.", "A"),
                             ("3.3.0.10.in-addr.arpa.", "PTR"), ("v6only.docker.", "AAAA"),
                             ("zzz.internal.", "A")]  # fmt: skip
REMOTE = Endpoint("cluster:n2", "r1", "svc", (NameClaim("svc", Origin.CONTAINER_NAME),
                  NameClaim("svc.n2", Origin.NODE)), (Address("10.0.5.5", "", Scope.HOST),),
                  node="n2")  # fmt: skip

CASES: list[tuple[str, Event, dict[Question, Summary]]] = [
    ("joins a name", Up(endpoint("web-3", "10.0.0.3", keys=("web",), ports=HTTP)), {
        ("web.docker.", "A"): ("NOERROR", ("10.0.0.1", "10.0.0.2", "10.0.0.3")),
        ("web.", "A"): ("NOERROR", ("10.0.0.1", "10.0.0.2", "10.0.0.3")),
        ("web-3.docker.", "A"): ("NOERROR", ("10.0.0.3",)),
        ("_http._tcp.web.docker.", "SRV"): ("NOERROR", tuple(sorted(
            f"0 10 80 web-{i}.docker." for i in (1, 2, 3)))),
        ("3.0.0.10.in-addr.arpa.", "PTR"): ("NOERROR", ("web-3.docker.",)),
    }),
    ("leaves", Remove("test", "web-1"), {
        ("web.docker.", "A"): ("NOERROR", ("10.0.0.2",)),
        ("web-1.docker.", "A"): ("NXDOMAIN", ()),
        ("_http._tcp.web-1.docker.", "SRV"): ("NXDOMAIN", ()),
        ("_http._tcp.web.", "SRV"): ("NOERROR", ("0 10 80 web-2.docker.",)),
        ("1.0.0.10.in-addr.arpa.", "PTR"): ("NXDOMAIN", ()),
    }),
    ("moves to another address", Up(endpoint("db", "10.0.1.6", keys=("db.shop",))), {
        ("db.shop.docker.", "A"): ("NOERROR", ("10.0.1.6",)),
        ("5.1.0.10.in-addr.arpa.", "PTR"): ("NXDOMAIN", ()),
        ("6.1.0.10.in-addr.arpa.", "PTR"): ("NOERROR", ("db.docker.",)),
    }),
    ("makes an empty non-terminal", Up(endpoint("deep", "10.0.4.4", keys=("a.b",))), {
        ("b.docker.", "A"): ("NOERROR", ()),
        ("a.b.docker.", "A"): ("NOERROR", ("10.0.4.4",)),
        ("4.0.10.in-addr.arpa.", "PTR"): ("NOERROR", ()),
    }),
    ("arrives from another node", Up(REMOTE), {
        ("svc.docker.", "A"): ("NOERROR", ("10.0.5.5",)),
        ("svc.n2.docker.", "A"): ("NOERROR", ("10.0.5.5",)),
        ("n2.docker.", "A"): ("NOERROR", ()),
    }),
    ("claims a name outside the zone", Up(endpoint("api2.internal.", "10.0.6.6")), {
        ("api2.internal.", "A"): ("NOERROR", ("10.0.6.6",)),
    }),
    ("is the asking client's own", Up(endpoint("me", HOST, network="front")), {
        ("svc2.docker.", "A"): ("NOERROR", ("10.1.0.5",)),
        ("svc-back.docker.", "A"): ("NXDOMAIN", ()),
    }),
]  # fmt: skip


@asynccontextmanager
async def serving(store: Store) -> AsyncIterator[tuple[FastPath[object], int]]:
    server = DnsServer(Config(), store, Metrics())
    await server.start([(HOST, 0)])
    try:
        assert server.pipeline is not None
        yield server.pipeline.fast, server.bound[0][1]  # type: ignore[misc]
    finally:
        await server.close()


async def ask(
    port: int, name: str, rdtype: str, source: str = HOST
) -> tuple[Summary, dns.message.Message]:
    message = dns.message.make_query(name, rdtype)
    reply = await dns.asyncquery.udp(message, HOST, port=port, timeout=5.0, source=source)
    texts = tuple(sorted(rd.to_text() for rrset in reply.answer for rd in rrset))
    return (dns.rcode.to_text(reply.rcode()), texts), reply


@pytest.mark.parametrize(("what", "event", "after"), CASES, ids=[c[0] for c in CASES])
async def test_a_change_is_answered_fresh_and_the_rest_stays_cached(
    what: str, event: Event, after: dict[Question, Summary]
) -> None:
    store = Store(clock=lambda: 1000.0)  # one second: the SOA serial stays
    store.apply(Resync("test", BASE))
    async with serving(store) as (fast, port):
        before = {q: (await ask(port, *q))[0] for q in after}
        untouched = {q: (await ask(port, *q, BYSTANDER))[0] for q in UNTOUCHED}
        assert {q: (await ask(port, *q, BYSTANDER))[0] for q in UNTOUCHED} == untouched  # hits
        entries = fast.entries
        store.apply(event)
        fills = fast.fills
        assert {q: (await ask(port, *q, BYSTANDER))[0] for q in UNTOUCHED} == untouched
        assert fast.fills == fills, "an entry the change cannot alter was dropped"
        assert fast.entries >= len(UNTOUCHED) and entries >= len(before)
        for question, expected in after.items():
            assert before[question] != expected, question  # the case shows a change
            assert (await ask(port, *question))[0] == expected, question


async def test_a_new_serial_refreshes_negative_answers_only() -> None:
    clock = [1000.0]
    store = Store(clock=lambda: clock[0])
    store.apply(Resync("test", BASE))
    async with serving(store) as (fast, port):
        for _ in range(2):
            _, negative = await ask(port, "nope.docker.", "A")
            positive, _ = await ask(port, "other.docker.", "A")
        clock[0] += 1
        store.apply(Up(endpoint("late", "10.0.7.7")))
        fills = fast.fills
        assert (await ask(port, "other.docker.", "A"))[0] == positive
        assert fast.fills == fills
        _, fresh = await ask(port, "nope.docker.", "A")
        assert fresh.authority[0][0].serial == negative.authority[0][0].serial + 1 == 1001


def test_a_forwarded_name_that_becomes_local_is_answered_locally() -> None:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    recursive = dataclasses.replace(SETTINGS, recursion=True)
    fast: FastPath[Decision] = FastPath(store, recursive, Counter(), keep)
    for name in ("new.internal.", "elsewhere.example."):
        assert isinstance(fast.udp(query(name), "192.0.2.1"), Forward)
    store.apply(Up(endpoint("new.internal.", "10.0.8.8")))
    local = fast.udp(query("new.internal."), "192.0.2.1")
    assert isinstance(local, Reply)
    assert [rd.to_text() for rrset in parse(local.data).answer for rd in rrset] == ["10.0.8.8"]
    fills = fast.fills
    assert isinstance(fast.udp(query("elsewhere.example."), "192.0.2.1"), Forward)
    assert fast.fills == fills


@pytest.mark.parametrize("spelling", ["fd00::1", "fd00:0:0::1", "FD00::1"])
def test_a_client_moved_to_another_network_gets_its_new_view(spelling: str) -> None:
    store = Store()
    store.apply(Resync("test", (*BASE, endpoint("me", "fd00::1", network="front"))))
    fast: FastPath[Decision] = FastPath(store, SETTINGS, Counter(), keep)

    def seen() -> list[str]:
        result = fast.udp(query("svc2.docker."), spelling)
        data = result.data if isinstance(result, Reply) else result
        return [rd.to_text() for rrset in parse(data).answer for rd in rrset]  # type: ignore[arg-type]

    assert seen() == seen() == ["10.1.0.5"]
    store.apply(Up(endpoint("me", "fd00::1", network="back")))
    assert seen() == ["10.2.0.5"]
