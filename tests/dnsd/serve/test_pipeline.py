"""The pipeline without sockets: one reply shape for REFUSED and SERVFAIL, counted once."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import dns.flags
import dns.message

from dnsd.ops.metrics import Metrics
from dnsd.serve.pipeline import Pipeline
from registry import Resync, Store
from tests.dnsd.core_support import SETTINGS, rcode_name, sample_endpoints

CLIENT = "127.0.0.1"


class Crashing:
    cached_until = 0.0
    clock = staticmethod(time.monotonic)

    def allows(self, client_ip: str) -> bool:
        return True

    def recursion_decisions(self) -> dict[str, bool]:
        return {}

    def cached_reply(self, query: bytes) -> bytes | None:
        return None

    async def forward(self, query: bytes, client_ip: str, via_tcp: bool) -> bytes | None:
        raise RuntimeError("a bug in the forwarder")


def chain(forwarder: Crashing | None) -> tuple[Pipeline, Metrics]:
    store = Store()
    store.apply(Resync("test", sample_endpoints()))
    metrics = Metrics()
    settings = dataclasses.replace(SETTINGS, recursion=forwarder is not None)
    return Pipeline(store, settings, metrics, forwarder), metrics


def edns_query(name: str) -> bytes:
    return bytes(dns.message.make_query(name, "A", use_edns=0, payload=4096).to_wire())


def test_refused_without_a_forwarder_keeps_question_and_opt_with_ra_clear() -> None:
    pipeline, metrics = chain(None)
    reply = pipeline.handle(edns_query("example.com."), CLIENT, True)
    assert isinstance(reply, bytes)
    message = dns.message.from_wire(reply)
    assert rcode_name(message) == "REFUSED" and not message.flags & dns.flags.RA
    assert message.question[0].name.to_text() == "example.com." and message.edns == 0
    assert metrics.queries == {("A", "REFUSED", "local"): 1}


async def test_a_crashing_forwarder_gives_the_one_servfail_shape() -> None:
    pipeline, metrics = chain(Crashing())
    task = pipeline.handle(edns_query("example.com."), CLIENT, True)
    assert isinstance(task, asyncio.Task)
    reply = await task
    assert reply is not None
    message = dns.message.from_wire(reply)
    assert rcode_name(message) == "SERVFAIL"
    assert message.flags & dns.flags.RA and message.edns == 0
    assert message.question[0].name.to_text() == "example.com."
    assert metrics.queries == {("A", "SERVFAIL", "upstream"): 1}
    assert pipeline.handle(edns_query("web-1.docker."), CLIENT, True) is not None
    await pipeline.close()


def test_each_query_is_counted_once_hit_or_miss() -> None:
    pipeline, metrics = chain(None)
    for _ in range(3):
        pipeline.handle(edns_query("web-1.docker."), CLIENT, False)
    assert metrics.queries == {("A", "NOERROR", "local"): 3}
