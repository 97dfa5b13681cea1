"""The real `dnsd serve` forwarding to a stub upstream on loopback (run in a thread here).

Unregistered single labels, as a polling client asks them, reach the upstream once per
negative TTL even when the upstream's NXDOMAIN carries no SOA (systemd-resolved's); and a
server whose caches are full after forwarded traffic still stops at once on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import socket
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
        asyncio.run_coroutine_threadsafe(self._close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _close(self) -> None:
        await self.stub.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


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


@pytest.fixture
def upstream() -> Iterator[StubUpstream]:
    threaded = ThreadedStub(Behaviour())
    threaded.stub.add(*(f"h{n}.example.org. 300 IN A 192.0.2.{n % 250 + 1}" for n in range(2000)))
    try:
        yield threaded.stub
    finally:
        threaded.close()


def test_sigterm_after_a_run_with_forwarded_traffic_exits_at_once(
    upstream: StubUpstream, tmp_path: Path
) -> None:
    """The caches are full of entries; the process ends without freeing them one by one."""
    records = tmp_path / "records.hosts"
    records.write_text("".join(f"10.1.{n // 250}.{n % 250 + 1} local{n}\n" for n in range(500)))
    host, port = upstream.address
    args = ["--no-docker", "--records", str(records), "--upstream", f"{host}:{port}"]
    with dnsd_serve(args, tmp_path) as served:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(3)
            for n in range(2000):  # forwarded names (cached) and local names (encoded replies)
                for name in (f"h{n}.example.org.", f"local{n % 500}.docker."):
                    client.sendto(
                        dns.message.make_query(name, "A").to_wire(), (served.host, served.port)
                    )
                    client.recv(512)
        assert upstream.count() == 2000
        served.process.send_signal(signal.SIGTERM)
        assert served.process.wait(timeout=5) == 0, served.log()
        assert served.log().rstrip().endswith("INFO dnsd: stopped")
