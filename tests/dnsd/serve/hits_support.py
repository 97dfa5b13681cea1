"""Two real DnsServers on one store, one answering fast-path hits in C (batched UDP, the
default) and one on the Python path (`--udp-batch 0`), asked the same bursts from the same
loopback clients; each burst is sent before either server reads, so it arrives as one batch.

A burst ends with a sentinel query per client; replies are read up to the sentinel's (the
immediate replies keep each client's order), plus any named upstream answers that come later.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import dns.message

from dnsd.config import Config
from dnsd.forward import Forwarder
from dnsd.ops.metrics import Metrics
from dnsd.serve.batch import BatchedDatagramTransport
from dnsd.serve.listeners import DnsServer
from registry import Store

HOST = "127.0.0.1"
TIMEOUT = 5.0
SENTINEL_ID = 0xFFFF


def make_query(name: str, qid: int, rdtype: str = "A") -> bytes:
    message = dns.message.make_query(name, rdtype)
    message.id = qid
    return bytes(message.to_wire())


SENTINEL = make_query("web-1.docker.", SENTINEL_ID)
SENTINEL_QUESTION = SENTINEL[12:]


class Clock:
    """The forwarders' clock: still unless a test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Side:
    """One server and what its clients received, per client, in order."""

    server: DnsServer
    metrics: Metrics
    forwarder: Forwarder | None
    port: int = 0
    replies: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def served_in_c(self) -> int:
        return sum(
            t.served for t in self.server.udp_transports if isinstance(t, BatchedDatagramTransport)
        )


@dataclass
class Pair:
    c: Side
    python: Side
    clients: dict[str, socket.socket]

    @property
    def sides(self) -> tuple[Side, Side]:
        return self.c, self.python

    async def burst(
        self, datagrams: Sequence[tuple[str, bytes]], upstream_ids: Sequence[int] = ()
    ) -> None:
        """Send `datagrams` (client, bytes) and each client's sentinel to both servers, then
        read each client's replies up to the sentinel's and the upstream answers `upstream_ids`."""
        for side in self.sides:
            for who, data in datagrams:
                self.clients[who].sendto(data, (HOST, side.port))
            for sock in self.clients.values():
                sock.sendto(SENTINEL, (HOST, side.port))
            for who, sock in self.clients.items():
                sent = {int.from_bytes(d[:2], "big") for w, d in datagrams if w == who}
                waiting = [qid for qid in upstream_ids if qid in sent]
                await read_until(sock, side.replies.setdefault(who, []), waiting)


async def read_until(sock: socket.socket, into: list[bytes], upstream_ids: Sequence[int]) -> None:
    loop = asyncio.get_running_loop()
    waiting = set(upstream_ids)
    sentinel_seen = False
    while not sentinel_seen or waiting:
        data = await asyncio.wait_for(loop.sock_recv(sock, 65535), TIMEOUT)
        qid = int.from_bytes(data[:2], "big")
        sentinel_seen |= qid == SENTINEL_ID and data[12 : len(SENTINEL)] == SENTINEL_QUESTION
        if qid in waiting:  # an answer from upstream: it may come after the sentinel
            waiting.discard(qid)
        into.append(data)


def client_socket(address: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((address, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def pair(
    store: Store,
    clients: dict[str, str],
    *,
    upstream: tuple[str, int] | None = None,
    clock: Clock | None = None,
    allow: Sequence[str] = ("127.0.0.1/32",),
) -> AsyncIterator[Pair]:
    """A C-hit server and a Python-path server on `store`; `clients`: name -> source address."""
    sides: list[Side] = []
    sockets = {who: client_socket(address) for who, address in clients.items()}
    try:
        for config in (Config(), Config(udp_batch=0)):
            metrics = Metrics()
            forwarder = None
            if upstream is not None:
                forwarder = Forwarder(
                    [upstream], metrics, timeout=1.0, clock=clock or Clock(), allow=list(allow)
                )
            server = DnsServer(config, store, metrics, forwarder)
            sides.append(Side(server, metrics, forwarder))
            await server.start([(HOST, 0)])
            sides[-1].port = server.bound[0][1]
        yield Pair(sides[0], sides[1], sockets)
    finally:
        for side in sides:
            await side.server.close()
            if side.forwarder is not None:
                await side.forwarder.close()
        for sock in sockets.values():
            sock.close()
