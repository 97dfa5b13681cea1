"""Microbenchmark: one recvfrom/sendto per datagram vs recvmmsg/sendmmsg (C and ctypes bindings).

`python -m bench.batch_io [--binding plain,c,ctypes] [--rounds N] [--batch B]`: a client socket
sends B queries to a server socket on loopback, the server echoes them (receive then send), the
client drains; only the server's receive and send are timed. Prints µs per datagram for the
server side. Run under `strace -c -f` for system calls, or valgrind --tool=callgrind for
instruction counts (user space). Not a test; not part of dnsd.
"""

from __future__ import annotations

import argparse
import socket
import time
from collections.abc import Callable

QUERY = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03web\x06docker\x00\x00\x01\x00\x01"
Echo = Callable[[socket.socket], int]


def plain(server: socket.socket) -> Echo:
    def echo(sock: socket.socket) -> int:
        items = []
        try:
            while True:
                items.append(sock.recvfrom(4096))
        except BlockingIOError:
            pass
        for data, addr in items:
            sock.sendto(data, addr)
        return len(items)

    return echo


def batched(make: Callable[[int, int, int], object], batch: int) -> Callable[[socket.socket], Echo]:
    def build(server: socket.socket) -> Echo:
        mm = make(server.fileno(), batch, 4096)

        def echo(sock: socket.socket) -> int:
            items = mm.recv()  # type: ignore[attr-defined]
            mm.send(items, 0)  # type: ignore[attr-defined]
            return len(items)

        return echo

    return build


def run(build: Callable[[socket.socket], Echo], rounds: int, batch: int) -> float:
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.setblocking(False)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    addr = server.getsockname()
    echo = build(server)
    spent = 0.0
    done = 0
    for _ in range(rounds):
        for _ in range(batch):
            client.sendto(QUERY, addr)
        started = time.perf_counter()
        got = echo(server)
        spent += time.perf_counter() - started
        done += got
        for _ in range(got):
            client.recv(4096)
    server.close()
    client.close()
    return spent / max(done, 1) * 1e6


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.batch_io", description=__doc__)
    p.add_argument("--binding", default="plain,c,ctypes")
    p.add_argument("--rounds", type=int, default=3000)
    p.add_argument("--batch", type=int, default=32)
    a = p.parse_args()
    for name in a.binding.split(","):
        build: Callable[[socket.socket], Echo]
        if name == "plain":
            build = plain
        elif name == "c":
            from dnsd.serve.batch import binding

            factory = binding()
            if factory is None:
                raise SystemExit("the C extension is not built (pip install -e .)")
            build = batched(factory, a.batch)
        else:
            from bench.mmsg_ctypes import CtypesBatch

            build = batched(CtypesBatch, a.batch)
        print(f"{name}: {run(build, a.rounds, a.batch):.2f} µs per datagram (receive + send)")


if __name__ == "__main__":
    main()
