"""The TCP shell: one asyncio Protocol per connection, with pipelining, idle timeout and a cap.

Bytes go through `dnsd.core.framing`; each message is answered by the server's hot path or full
path, in arrival order for local answers (forwarded ones may overtake, RFC 7766 allows it).
It must not parse DNS itself; `DnsServer` (dnsd.serve.server) owns metrics, forwarding and logging.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from dnsd.config import Config
from dnsd.core.framing import Deframer, FramingError, frame
from dnsd.core.wire import Decision
from dnsd.serve.fastpath import FastPath

MAX_WRITE_BUFFER = 1024 * 1024  # a client that never reads is dropped past this


class ConnectionOwner(Protocol):
    """What a connection needs from the server that accepted it."""

    config: Config
    fastpath: FastPath
    connections: set[Any]
    query_log: bool

    def deliver(
        self,
        decision: Decision,
        query: bytes,
        client_ip: str,
        send: Callable[[bytes], None],
        *,
        udp: bool,
    ) -> asyncio.Task[None] | None: ...

    def log_hit(self, query: bytes, reply: bytes, client_ip: str) -> None: ...

    def log_error(self, what: str, exc: BaseException) -> None: ...


class TcpConnection(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: ConnectionOwner) -> None:
        self._server = server
        self._deframer = Deframer()
        self._transport: asyncio.Transport | None = None
        self._client_ip = ""
        self._pending: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._eof = False

    # -- asyncio callbacks ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        server = self._server
        if len(server.connections) >= server.config.tcp_max_connections:
            transport.close()
            return
        server.connections.add(self)
        peer = transport.get_extra_info("peername")
        self._client_ip = str(peer[0]) if peer else ""
        self._touch()
        self._arm(self._server.config.tcp_idle_timeout)

    def data_received(self, data: bytes) -> None:
        self._touch()
        try:
            messages = self._deframer.feed(data)
        except FramingError:
            self.abort()
            return
        for message in messages:
            self._handle(message)

    def eof_received(self) -> bool:
        self._eof = True
        return bool(self._pending)  # keep the write side open while forwards are in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self._server.connections.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        for task in self._pending:
            task.cancel()

    # -- work -----------------------------------------------------------------
    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _handle(self, message: bytes) -> None:
        server = self._server
        try:
            reply = server.fastpath.tcp(message, self._client_ip)
            if isinstance(reply, bytes):
                self._send(reply)
                if server.query_log:
                    server.log_hit(message, reply, self._client_ip)
                return
            task = server.deliver(reply, message, self._client_ip, self._send, udp=False)
        except Exception as exc:  # the TCP shell's catch-all
            server.log_error("TCP query handling failed", exc)
            return
        if task is not None:
            self._pending.add(task)
            task.add_done_callback(self._forward_done)

    def _forward_done(self, task: asyncio.Task[None]) -> None:
        self._pending.discard(task)
        self._touch()
        if self._eof and not self._pending and self._transport is not None:
            self._transport.close()

    def _send(self, reply: bytes) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.write(frame(reply))
        if transport.get_write_buffer_size() > MAX_WRITE_BUFFER:
            transport.abort()

    def _touch(self) -> None:
        self._last_activity = asyncio.get_running_loop().time()

    def _arm(self, delay: float) -> None:
        self._timer = asyncio.get_running_loop().call_later(delay, self._check_idle)

    def _check_idle(self) -> None:
        timeout = self._server.config.tcp_idle_timeout
        idle = asyncio.get_running_loop().time() - self._last_activity
        if self._pending or idle < timeout:
            self._arm(max(timeout - idle, 0.05) if not self._pending else timeout)
            return
        if self._transport is not None:
            self._transport.close()
