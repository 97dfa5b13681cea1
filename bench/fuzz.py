"""The long fuzz run: many more hostile packets than the suite's bounded test, same invariants.

    .venv/bin/python -m bench.fuzz                       # 1,000,000 packets (or 900 s)
    .venv/bin/python -m bench.fuzz --count 50000 --seed 7

Run from the repository root (the packet generator and the invariants live in
`tests/dnsd/fuzz_support.py`, shared with `tests/dnsd/serve/test_fuzz_invariants.py`). Every
packet goes through the pure wire layer (UDP and TCP, with and without forwarding) and the hot
path (twice, so repeats are hits); every tenth packet set also exercises TCP deframing. At the
end a real server on loopback gets a slice of the packets over UDP and TCP and must still answer
a normal query. The first broken invariant stops the run with exit status 1 and the packet in hex.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import sys
import time

import dns.asyncquery
import dns.message

from dnsd.config import Config
from dnsd.core.wire import handle_wire
from dnsd.ops.metrics import Metrics
from dnsd.serve.fastpath import FastPath, keep
from dnsd.serve.listeners import DnsServer
from registry import Resync, Store
from tests.dnsd.core_support import SETTINGS, crowd, sample_endpoints
from tests.dnsd.fuzz_support import (
    InvariantBroken,
    check_deframing,
    check_reply,
    check_udp,
    packets,
)

SERVER_SLICE = 20_000  # packets also sent to a running server


def in_process(count: int, seconds: float, seed: int) -> int:
    """Check `count` packets (or as many as fit in `seconds`); returns how many were checked."""
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(70))))
    forwarding = dataclasses.replace(SETTINGS, recursion=True)
    fast = FastPath(store, forwarding, Metrics().queries, keep)
    limit = SETTINGS.max_udp_size
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    done = 0
    for packet in packets(count, seed):
        settings = forwarding if done % 2 else SETTINGS
        check_udp(packet, handle_wire(packet, store.snapshot, settings), limit)
        over_tcp = handle_wire(packet, store.snapshot, settings, udp=False)
        if hasattr(over_tcp, "data"):
            check_reply(packet, over_tcp.data, 65535, udp=False)
        for _ in range(2):
            check_udp(packet, fast.udp(packet, "192.0.2.1"), limit)
        if done % 10 == 0:
            messages = [rng.randbytes(rng.randint(1, 600)) for _ in range(rng.randint(0, 6))]
            check_deframing(rng, messages)
        done += 1
        if done % 10_000 == 0 and time.monotonic() > end:
            break
    return done


async def against_a_server(seed: int) -> None:
    """Hostile UDP and TCP traffic to a real server, then a normal query must be answered."""
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(70))))
    server = DnsServer(Config(tcp_idle_timeout=1.0), store, Metrics())
    await server.start([("127.0.0.1", 0)])
    port = server.bound[0][1]
    loop = asyncio.get_running_loop()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("127.0.0.1", port)
        )
        for i, packet in enumerate(packets(SERVER_SLICE, seed + 1)):
            if packet:
                transport.sendto(packet)
            if i % 100 == 0:
                await asyncio.sleep(0.002)
        transport.close()
        for i, packet in enumerate(packets(2_000, seed + 2)):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(len(packet).to_bytes(2, "big") + packet if i % 2 else packet)
            writer.close()
        query = dns.message.make_query("web-1.docker.", "A")
        for send in (dns.asyncquery.udp, dns.asyncquery.tcp):
            reply = await send(query, "127.0.0.1", port=port, timeout=5)
            if [r.to_text() for rrset in reply.answer for r in rrset] != ["10.0.0.1"]:
                raise InvariantBroken(f"no normal answer after the hostile traffic: {reply}")
    finally:
        await server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000, help="packets (in-process)")
    parser.add_argument("--seconds", type=float, default=900.0, help="stop after this long")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        checked = in_process(args.count, args.seconds, args.seed)
        asyncio.run(against_a_server(args.seed))
    except InvariantBroken as broken:
        print(f"invariant broken: {broken}", file=sys.stderr)
        return 1
    elapsed = time.monotonic() - started
    print(
        f"{checked:,} packets in-process (wire UDP+TCP, hot path x2, deframing) and "
        f"{SERVER_SLICE:,} UDP + 2,000 TCP to a running server: every invariant held; "
        f"{elapsed:.0f} s, seed {args.seed}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
