"""The TCP shell: one asyncio Protocol per connection, with pipelining, timeouts and bounds.

Bytes go through `dnsd.core.framing`; each message goes to `Pipeline.handle`, and what it
returns is framed and written: local answers in arrival order, forwarded ones when they are
done (they may overtake, RFC 7766 allows it). It must not parse DNS, count, decide or reach
into a server object; `TcpLimits` and the set of open connections are all it shares.

Bounds (RFC 7766 §6.2, as Unbound and Knot do): a connection with no complete message for
`idle_timeout` is closed; a message not complete `message_timeout` after its first byte ends
the connection (slowloris); when the table is full, the connection that completed a message
longest ago (and waits for no forward) makes room for the new one; reading pauses while a
client has MAX_PENDING forwards in flight or does not read its replies, and a client whose
unread replies pass MAX_WRITE_BUFFER is dropped.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from dnsd.core.framing import Deframer, FramingError, frame
from dnsd.serve.pipeline import Pipeline

MAX_WRITE_BUFFER = 256 * 1024  # a client that never reads is dropped past this
WRITE_HIGH_WATER = 64 * 1024  # above this, stop reading the client's queries until it reads
MAX_PENDING = 32  # forwarded queries in flight per connection before reading pauses
MIN_IDLE_CHECK = 0.05  # seconds between idle checks at the least


@dataclass
class TcpLimits:
    """What every connection of one server shares: the caps and the open connections."""

    idle_timeout: float = 10.0
    max_connections: int = 256
    message_timeout: float = 2.0
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
        self._deadline: asyncio.TimerHandle | None = None
        self._holds: set[str] = set()  # why reading is paused: "writing", "pending", "broken"
        self._eof = False

    @property
    def evictable(self) -> tuple[bool, float]:
        """Sort key for making room: idle connections first, then the longest without a
        complete message (a slowloris never completes one)."""
        return (bool(self._pending), self._last_activity)

    # -- asyncio callbacks ------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]
        connections = self._limits.open
        if len(connections) >= self._limits.max_connections:
            victim = min(connections, key=lambda c: c.evictable)
            if victim.evictable[0]:  # every connection waits for a forward: refuse this one
                transport.close()
                return
            connections.discard(victim)
            victim.abort()
        connections.add(self)
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER)  # type: ignore[attr-defined]
        peer = transport.get_extra_info("peername")
        self._client = str(peer[0]) if peer else ""
        self._touch()
        self._arm(self._limits.idle_timeout)

    def data_received(self, data: bytes) -> None:
        broken = False
        try:
            messages = self._deframer.feed(data)
        except FramingError as error:
            messages, broken = error.complete, True
        if messages:
            self._touch()
        for message in messages:
            self._query(message)
        if broken:
            self._finish()
        elif self._deadline is not None or self._deframer.pending:  # whole messages: nothing
            self._watch_message(bool(messages))

    def pause_writing(self) -> None:
        self._hold("writing")

    def resume_writing(self) -> None:
        self._release("writing")

    def eof_received(self) -> bool:
        self._eof = True
        return bool(self._pending)  # keep the write side open while forwards are in flight

    def connection_lost(self, exc: Exception | None) -> None:
        self._limits.open.discard(self)
        if self._timer is not None:
            self._timer.cancel()
        self._cancel_deadline()
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
            if len(self._pending) >= MAX_PENDING:
                self._hold("pending")

    def _forward_done(self, task: asyncio.Task[bytes | None]) -> None:
        self._pending.discard(task)
        self._touch()
        if len(self._pending) < MAX_PENDING:
            self._release("pending")
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

    def _finish(self) -> None:
        """The peer broke the framing: answer what came before, then close (after forwards)."""
        self._cancel_deadline()
        self._hold("broken")
        self._eof = True
        if not self._pending and self._transport is not None:
            self._transport.close()

    # -- bounds ---------------------------------------------------------------
    def _watch_message(self, completed: bool) -> None:
        """Start the deadline of a message at its first byte; stop it when none is partial."""
        if not self._deframer.pending:
            self._cancel_deadline()
        elif completed or self._deadline is None:  # a new message began in this segment
            self._cancel_deadline()
            timeout = self._limits.message_timeout
            self._deadline = asyncio.get_running_loop().call_later(timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._deadline = None
        if self._holds:  # we stopped reading it ourselves: not the client's fault
            self._watch_message(True)
            return
        self.abort()

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _hold(self, reason: str) -> None:
        transport = self._transport
        if not self._holds and transport is not None and not transport.is_closing():
            transport.pause_reading()
        self._holds.add(reason)

    def _release(self, reason: str) -> None:
        if reason not in self._holds:
            return
        self._holds.discard(reason)
        transport = self._transport
        if not self._holds and transport is not None and not transport.is_closing():
            transport.resume_reading()

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
