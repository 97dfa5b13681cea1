"""Moving one query to one upstream and back: UDP or TCP, under a timeout.

Each UDP exchange uses a fresh socket, so the OS picks a new random source
port; the socket is connected (the kernel drops datagrams from other
sources), and a datagram whose ID or question does not match is ignored
(reported through `on_mismatch`) while we keep waiting. Every socket is
closed on every path. It must not choose upstreams, retry, cache or build messages.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from dnsd.forward.message import Question, reply_matches
from dnsd.parsers import HostPort, format_host_port

RECEIVE_SIZE = 65_535


class SpoofedReply(Exception):
    """A TCP upstream sent a reply that does not answer our query."""


async def exchange_udp(
    upstream: HostPort,
    packet: bytes,
    qid: int,
    question: Question,
    timeout: float,
    on_mismatch: Callable[[], None],
) -> bytes:
    """Send `packet` from a fresh socket and return the matching reply.

    Raises TimeoutError when `timeout` passes, OSError on network errors
    (e.g. ICMP port unreachable). The socket is ours, not a loop transport's:
    it is closed in `finally` on every path (reply, timeout, cancel, error),
    under asyncio and uvloop alike, and a late reply finds it already gone.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect(upstream)  # the kernel drops datagrams from any other source
        async with asyncio.timeout(timeout):
            await loop.sock_sendall(sock, packet)
            while True:
                data = await loop.sock_recv(sock, RECEIVE_SIZE)
                if reply_matches(data, qid, question):
                    return data
                on_mismatch()
    finally:
        sock.close()


async def exchange_tcp(
    upstream: HostPort, packet: bytes, qid: int, question: Question, timeout: float
) -> bytes:
    """Send `packet` over a new TCP connection and return the reply.

    Raises TimeoutError, OSError, EOFError (connection closed early) or
    SpoofedReply. Like the UDP exchange, the socket is ours and closed on every path.
    """
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in upstream[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, upstream)
            await loop.sock_sendall(sock, len(packet).to_bytes(2, "big") + packet)
            size = int.from_bytes(await _read_exactly(loop, sock, 2), "big")
            reply = await _read_exactly(loop, sock, size)
    finally:
        sock.close()
    if not reply_matches(reply, qid, question):
        raise SpoofedReply(f"reply from {format_host_port(*upstream)} does not match the query")
    return reply


async def _read_exactly(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = await loop.sock_recv(sock, size - len(data))
        if not chunk:
            raise EOFError("the upstream closed the connection early")
        data += chunk
    return data
