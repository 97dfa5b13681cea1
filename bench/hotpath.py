"""In-process cost of the two hottest queries: a local hit and a cached forwarded hit over UDP.

Runs the real UDP shell (`UdpShell.datagram_received`, i.e. pipeline + fast path + forwarder
cache) against a fake transport whose `sendto` does nothing, so the figure is dnsd's own Python
per query, without the event loop or the syscall: the best of several runs, in process CPU
time. No upstream traffic at all: the forwarder's upstream is never asked (its cache is filled
directly).

With the C extension built it also times whole batches on loopback (`--batch` queries sent by
a client socket, then one readable callback of the batched transport: recvmmsg, answers,
sendmmsg; only that callback is timed), once with the hits answered in C and once through the
Python path, so the two compare with their system calls included.

    .venv/bin/python -m bench.hotpath [--number 200000] [--repeat 15] [--batch 32]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import time
import timeit
from functools import partial
from typing import Any

import dns.message
import dns.rrset

from dnsd.config import Config
from dnsd.forward import Forwarder
from dnsd.forward.message import parse_query
from dnsd.ops.metrics import Metrics
from dnsd.serve.batch import bind_batched, binding
from dnsd.serve.listeners import DnsServer
from dnsd.serve.pipeline import Pipeline
from dnsd.serve.udp import UdpShell
from registry import Address, Endpoint, NameClaim, Origin, Resync, Store

CLIENT = ("127.0.0.1", 40000)
UNUSED_UPSTREAM = ("127.0.0.1", 9)  # never contacted: every forwarded query is a cache hit


class NullTransport:
    def sendto(self, data: bytes, addr: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False


def cached_forward(forwarder: Forwarder, name: str) -> bytes:
    """A query for `name` whose reply is already in the forwarder's cache."""
    query = dns.message.make_query(name, "A")
    reply = dns.message.make_response(query)
    reply.answer.append(dns.rrset.from_text(name, 3600, "IN", "A", "192.0.2.1"))
    question = parse_query(query.to_wire())
    assert question is not None
    forwarder._answered(question, reply.to_wire())  # what an upstream answer does
    return bytes(query.to_wire())


def batched(pipeline: Pipeline, query: bytes, number: int, batch: int, in_c: bool) -> float:
    """CPU seconds per query of the batched transport's readable callback (syscalls included),
    hits answered in C (`in_c`) or through the Python path."""
    factory = binding()
    assert factory is not None
    loop = asyncio.get_running_loop()
    tables = pipeline.hit_tables if in_c else None
    transport = bind_batched(
        loop,
        factory,
        UdpShell(pipeline),
        "127.0.0.1",
        0,
        batch,
        receive_buffer=4 << 20,
        tables=tables,
    )
    loop.remove_reader(transport.get_extra_info("socket").fileno())  # driven by hand below
    address = transport.get_extra_info("sockname")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.bind((CLIENT[0], 0))
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        client.settimeout(5.0)
        spent = 0.0
        for _ in range(max(1, number // batch)):
            for _ in range(batch):
                client.sendto(query, address)
            started = time.process_time()
            transport._readable()  # one readable callback: what the event loop would call
            spent += time.process_time() - started
            for _ in range(batch):
                client.recv(4096)
    transport.close()
    return spent / (max(1, number // batch) * batch)


async def measure(number: int, repeat: int, batch: int = 32) -> dict[str, float]:
    store = Store()
    target = Endpoint(
        "bench", "t", "target", (NameClaim("target", Origin.STATIC),), (Address("10.0.0.5"),)
    )
    store.apply(Resync("bench", (target,)))
    metrics = Metrics()
    forwarder = Forwarder([UNUSED_UPSTREAM], metrics, allow=["127.0.0.0/8"])
    server = DnsServer(Config(), store, metrics, forwarder)
    await server.start([("127.0.0.1", 0)])
    try:
        assert server.pipeline is not None
        shell = UdpShell(server.pipeline)
        shell.connection_made(NullTransport())  # type: ignore[arg-type]
        queries = {
            "local hit": bytes(dns.message.make_query("target.docker.", "A").to_wire()),
            "cached forwarded hit": cached_forward(forwarder, "fwd-0.bench.test."),
        }
        results = {}
        for label, query in queries.items():
            for _ in range(3):  # fill the fast path's table
                shell.datagram_received(query, CLIENT)
            runs = timeit.repeat(
                partial(shell.datagram_received, query, CLIENT),
                number=number,
                repeat=repeat,
                timer=time.process_time,  # CPU time: the machine may be busy with others
            )
            results[label] = min(runs) / number
            if binding() is not None:
                for in_c in (False, True):
                    where = "hits in C" if in_c else "Python path"
                    results[f"{label}, batches of {batch} on loopback, {where}"] = min(
                        batched(server.pipeline, query, number, batch, in_c)
                        for _ in range(max(1, repeat // 3))
                    )
        assert metrics.queries[("A", "NOERROR", "local")] > number
        assert metrics.queries[("A", "NOERROR", "cache")] > number
        return results
    finally:
        await server.close()
        await forwarder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000, help="queries per timing run")
    parser.add_argument("--repeat", type=int, default=15, help="timing runs (the best counts)")
    parser.add_argument("--batch", type=int, default=32, help="datagrams per batch (loopback)")
    args = parser.parse_args()
    for label, seconds in asyncio.run(measure(args.number, args.repeat, args.batch)).items():
        print(f"{label}: {seconds * 1e6:.3f} us/query (best run)")


if __name__ == "__main__":
    main()
