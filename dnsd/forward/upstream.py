"""Moving one query to one upstream and back: UDP or TCP, under a timeout.

Each UDP exchange uses a fresh socket, so the OS picks a new random source
port; the socket is connected, and a datagram whose source, ID or question
does not match is ignored (reported through `on_mismatch`) while we keep
waiting. It must not choose upstreams, retry, cache or build messages.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from dnsd.forward.message import Question, reply_matches
from dnsd.parsers import HostPort, format_host_port


class SpoofedReply(Exception):
    """A TCP upstream sent a reply that does not answer our query."""


class _Exchange(asyncio.DatagramProtocol):
    """Waits for the first datagram that answers our query."""

    def __init__(self, qid: int, question: Question, on_mismatch: Callable[[], None]) -> None:
        self.reply: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.peer: object = None
        self._qid = qid
        self._question = question
        self._on_mismatch = on_mismatch

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.peer = transport.get_extra_info("peername")

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        if self.reply.done():
            return
        if addr != self.peer or not reply_matches(data, self._qid, self._question):
            self._on_mismatch()
            return
        self.reply.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.reply.done():
            self.reply.set_exception(exc or ConnectionError("socket closed"))


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
    (e.g. ICMP port unreachable).
    """
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Exchange(qid, question, on_mismatch), remote_addr=upstream
        )
        try:
            transport.sendto(packet)
            return await protocol.reply
        finally:
            transport.close()


async def exchange_tcp(
    upstream: HostPort, packet: bytes, qid: int, question: Question, timeout: float
) -> bytes:
    """Send `packet` over a new TCP connection and return the reply.

    Raises TimeoutError, OSError, EOFError (connection closed early) or
    SpoofedReply.
    """
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(*upstream)
        try:
            writer.write(len(packet).to_bytes(2, "big") + packet)
            size = int.from_bytes(await reader.readexactly(2), "big")
            reply = await reader.readexactly(size)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
    if not reply_matches(reply, qid, question):
        raise SpoofedReply(f"reply from {format_host_port(*upstream)} does not match the query")
    return reply
