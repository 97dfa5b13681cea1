"""In-process cost of a local hot-path hit, without sockets: microseconds per query.

    .venv/bin/python -m bench.hotpath            # UDP and TCP, best of 7 rounds of 200,000

UDP: `UdpProtocol.datagram_received` with a transport whose `sendto` does nothing. TCP:
`TcpConnection.data_received` with one whole framed query per call. Both answer `web-1.docker.`
from the hot path's encoded bytes (the first call fills it). Rounds are timed in process CPU
time and the best is reported, because other load on the machine only ever adds time. Not a
test: no assertions, no sockets.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import timeit
from typing import Any

import dns.message

from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from dnsd.serve.server import DnsServer, UdpProtocol
from dnsd.serve.tcp import TcpConnection
from registry import Address, Endpoint, NameClaim, Origin, Resync, Store

ADDR = ("127.0.0.1", 5353)


class NullTransport(asyncio.Transport):
    """Accepts every write and send; reports a loopback peer."""

    def sendto(self, data: Any, addr: Any = None) -> None:
        pass

    def write(self, data: Any) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ADDR if name == "peername" else default

    def get_write_buffer_size(self) -> int:
        return 0

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass


def server() -> DnsServer:
    store = Store()
    web = Endpoint(
        "bench", "web-1", "web-1", (NameClaim("web-1", Origin.STATIC),), (Address("10.0.0.1"),)
    )
    store.apply(Resync("bench", (web,)))
    return DnsServer(Config(), store, Metrics())


def best(call: Any, number: int, rounds: int) -> float:
    """Best round in CPU time of this process (other load on a shared machine stretches wall
    time, not the CPU the calls take)."""
    call()  # fills the hot path
    timer = timeit.Timer(call, timer=time.process_time)
    return min(timer.repeat(number=number, repeat=rounds)) / number * 1e6


async def measure(number: int, rounds: int) -> tuple[float, float]:
    dns_server = server()
    query = dns.message.make_query("web-1.docker.", "A")
    query.id = 7
    data = query.to_wire()
    udp = UdpProtocol(dns_server)
    udp.connection_made(NullTransport())
    udp_us = best(lambda: udp.datagram_received(data, ADDR), number, rounds)
    tcp = TcpConnection(dns_server)
    tcp.connection_made(NullTransport())
    framed = len(data).to_bytes(2, "big") + data
    tcp_us = best(lambda: tcp.data_received(framed), number, rounds)
    tcp.connection_lost(None)
    return udp_us, tcp_us


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    udp_us, tcp_us = asyncio.run(measure(args.number, args.rounds))
    print(f"local hit, in-process: UDP {udp_us:.3f} us/query, TCP {tcp_us:.3f} us/query")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
