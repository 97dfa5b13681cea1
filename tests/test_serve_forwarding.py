"""The real `dnsd serve` forwarding to a stub upstream on loopback (run in a thread here).

Unregistered single labels, as a polling client asks them, reach the upstream once per
negative TTL even when the upstream's NXDOMAIN carries no SOA (systemd-resolved's).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from tests.dnsd.forward.stub_upstream import Behaviour, StubUpstream
from tests.serve_process import dnsd_serve


class ThreadedStub:
    """A `StubUpstream` served by its own event loop in a daemon thread."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.loop = asyncio.new_event_loop()
        self.stub = StubUpstream(behaviour=behaviour)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.stub.start(), self.loop).result(10)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.stub.close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
def no_soa_upstream() -> Iterator[StubUpstream]:
    threaded = ThreadedStub(Behaviour(negative_soa=False))
    try:
        yield threaded.stub
    finally:
        threaded.close()


def test_unregistered_single_labels_are_cached_negatively(
    no_soa_upstream: StubUpstream, tmp_path: Path
) -> None:
    host, port = no_soa_upstream.address
    args = ["--no-docker", "--upstream", f"{host}:{port}", "--negative-ttl", "30"]
    with dnsd_serve(args, tmp_path) as served:
        for _ in range(50):  # a client polling for a service that is not there
            reply = served.query("nosuch.", "A")
            assert reply.rcode() == dns.rcode.NXDOMAIN
        assert no_soa_upstream.count("nosuch") == 1
