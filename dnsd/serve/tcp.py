"""The TCP shell: one asyncio Protocol per connection, with pipelining, idle timeout and a cap.

Bytes go through `dnsd.core.framing`; each message goes to `Pipeline.handle`, and what it
returns is framed and written: local answers in arrival order, forwarded ones when they are
done (they may overtake, RFC 7766 allows it). It must not parse DNS, count, decide or reach
into a server object; `TcpLimits` and the set of open connections are all it shares.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from dnsd.core.framing import Deframer, FramingError, frame
from dnsd.serve.pipeline import Pipeline

MAX_WRITE_BUFFER = 1024 * 1024  # a client that never reads is dropped past this
MIN_IDLE_CHECK = 0.05  # seconds between idle checks at the least


@dataclass
class TcpLimits:
    """What every connection of one server shares: the caps and the open connections."""

    idle_timeout: float = 10.0
    max_connections: int = 256
    open: set[TcpShell] = field(default_factory=set)


class TcpShell(asyncio.Protocol):
    """One client connection."""

    def __init__(self, pipeline: Pipeline, limits: TcpLimits) -> None:
        self._handle = pipeline.handle
        self._log_error = pipeline.log_error
        self._limits = limits
        self._deframer = Deframer()
        self._transport: asyncio.Transport | None = None
        self._client = ""
        self._pending: set[asyncio.Task[bytes | None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._last_activity = 0.0
        self._eof = False

    # -- asyncio callbacks ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        if len(self._limits.open) >= self._limits.max_connections:
            transport.close()
            return
        self._limits.open.add(self)
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        self._touch()
        self._arm(self._limits.idle_timeout)

    def data_received(self, data: bytes) -> None:
        self._touch()
        try:
            messages = self._deframer.feed(data)
        except FramingError:
            self.abort()
            return
        for message in messages:
            self._query(message)

    def eof_received(self) -> bool:
        self._eof = True
        return bool(self._pending)  # keep the write side open while forwards are in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self._limits.open.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        for task in self._pending:
            task.cancel()

    # -- work -----------------------------------------------------------------
    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def _query(self, message: bytes) -> None:
        try:
            reply = self._handle(message, self._client, False)
        except Exception as exc:  # the TCP shell's catch-all
            self._log_error("TCP query handling failed", exc)
            return
        if isinstance(reply, bytes):
            self._send(reply)
        elif reply is not None:
            self._pending.add(reply)
            reply.add_done_callback(self._forward_done)

    def _forward_done(self, task: asyncio.Task[bytes | None]) -> None:
        self._pending.discard(task)
        self._touch()
        if not task.cancelled() and task.exception() is None:
            reply = task.result()
            if reply is not None:
                self._send(reply)
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
        timeout = self._limits.idle_timeout
        idle = asyncio.get_running_loop().time() - self._last_activity
        if self._pending or idle < timeout:
            self._arm(max(timeout - idle, MIN_IDLE_CHECK) if not self._pending else timeout)
            return
        if self._transport is not None:
            self._transport.close()
