"""A datagram transport that moves many UDP datagrams per system call (recvmmsg/sendmmsg).

One job: drive an `asyncio.DatagramProtocol` like the loop's own UDP transport does, but on
readability receive up to N waiting datagrams with one `recvmmsg` (never waiting for more to
arrive), hand each to the protocol in order, collect the replies it sends meanwhile and send them
with one `sendmmsg`. Replies sent later (forwarded answers) go out at once. A datagram the kernel
refuses costs only itself: on EAGAIN/ENOBUFS the rest waits for writability in order, on any
other error that one reply is dropped (reported to `error_received`) and the rest is sent.

With `tables` (the fast path's `hit_tables`), the extension answers the fast path's hits
itself while the batch is in its receive buffers; only the misses reach the protocol, and
their replies go out with the hits in one `sendmmsg`, in arrival order.

The binding is the optional C extension `dnsd.serve._mmsg` (built by `pip install` on Linux);
`binding()` is None without it and the listeners use the loop's transport instead. This module
must not know DNS or the server: it sees bytes, addresses, a protocol and opaque tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

Address = tuple[Any, ...]
Item = tuple[bytes, Address]
RETRY_LATER = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS, errno.EINTR})
MAX_BACKLOG = 4096  # replies waiting for writability; beyond this new ones are dropped
MAX_DATAGRAM = 65_535


class BatchIO(Protocol):
    """What the C extension's `Batch` offers (see dnsd/serve/_mmsg.c)."""

    def recv(self) -> list[Item]: ...

    def send(self, items: list[Item], start: int = 0, /) -> tuple[int, int]: ...


class HitBatchIO(BatchIO, Protocol):
    """The extension's hit path (see dnsd/serve/_mmsg.c): serve, then send in arrival order."""

    def serve(self, tables: object, /) -> tuple[int, list[tuple[int, bytes, Address]]]: ...

    def prepare(self, items: list[tuple[int, bytes, Address]], /) -> tuple[int, int]: ...

    def send_prepared(self, start: int, /) -> tuple[int, int]: ...

    def pending(self, start: int, /) -> list[Item]: ...


BatchFactory = Callable[[int, int, int], BatchIO]
Tables = Callable[[], object]  # the fast path's tables for one batch (opaque here)


def binding() -> BatchFactory | None:
    """The recvmmsg/sendmmsg binding, or None where it was not built (non-Linux, no compiler)."""
    try:
        from dnsd.serve._mmsg import Batch  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        return None
    factory: BatchFactory = Batch
    return factory


class BatchedDatagramTransport(asyncio.DatagramTransport):
    """The loop-facing side of one bound, non-blocking UDP socket."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        protocol: asyncio.DatagramProtocol,
        batch: BatchIO,
        tables: Tables | None = None,
    ) -> None:
        super().__init__()
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._batch = batch
        self._tables = tables if hasattr(batch, "serve") else None
        self._collecting: list[Item] | None = None
        self._backlog: deque[Item] = deque()
        self._closing = False
        self.receives = 0  # recvmmsg calls that returned datagrams
        self.received = 0  # datagrams received
        self.served = 0  # of those, hits answered by the extension (never seen by the protocol)
        self._extra = {"socket": sock, "sockname": sock.getsockname()}
        protocol.connection_made(self)
        loop.add_reader(self._fd, self._readable)

    # -- the transport interface the protocol uses ------------------------------------------
    def sendto(self, data: Any, addr: Any = None) -> None:
        if self._closing or addr is None:
            return
        item = (bytes(data), addr)
        if self._collecting is not None:
            self._collecting.append(item)  # sent with the rest of this batch
        elif self._backlog:
            self._queue([item], 0)
        else:
            self._send([item])

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._extra.get(name, default)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._fd)
        self._loop.remove_writer(self._fd)
        self._backlog.clear()
        self._loop.call_soon(self._lost)

    def abort(self) -> None:
        self.close()

    def get_write_buffer_size(self) -> int:
        return len(self._backlog)

    # -- the loop's callbacks ---------------------------------------------------------------
    def _readable(self) -> None:
        if self._tables is not None:
            self._serve(self._tables())
            return
        try:
            items = self._batch.recv()
        except OSError as exc:  # an ICMP error reported on the socket: the protocol decides
            self._protocol.error_received(exc)
            return
        if not items:
            return
        self.receives += 1
        self.received += len(items)
        replies: list[Item] = []
        self._collecting = replies
        try:
            for data, addr in items:
                try:
                    self._protocol.datagram_received(data, addr)
                except Exception as exc:  # one datagram's failure must not cost the others
                    self._report(exc)
        finally:
            self._collecting = None
        if not replies:
            return
        if self._backlog:
            self._queue(replies, 0)
        else:
            self._send(replies)

    def _serve(self, tables: object) -> None:
        """A batch with the hits answered in C: the misses go through the protocol, and each
        reply they send right away takes its datagram's place among the hits."""
        batch: HitBatchIO = self._batch  # type: ignore[assignment]
        try:
            received, misses = batch.serve(tables)
        except OSError as exc:  # an ICMP error reported on the socket: the protocol decides
            self._protocol.error_received(exc)
            return
        except Exception as exc:  # tables it cannot read: a bug; the Python path takes over
            self._tables = None
            self._report(exc)
            return
        if not received:
            return
        self.receives += 1
        self.received += received
        self.served += received - len(misses)
        placed: list[tuple[int, bytes, Address]] = []
        replies: list[Item] = []
        self._collecting = replies
        try:
            for index, data, addr in misses:
                try:
                    self._protocol.datagram_received(data, addr)
                except Exception as exc:  # one datagram's failure must not cost the others
                    self._report(exc)
                placed.extend((index, reply, to) for reply, to in replies)
                replies.clear()
        finally:
            self._collecting = None
        total, skipped = batch.prepare(placed)
        for _ in range(skipped):
            self._protocol.error_received(OSError(errno.EINVAL, "not a numeric IP address"))
        if self._backlog:
            self._queue(batch.pending(0), 0)
            return
        start = 0
        while start < total and not self._closing:
            sent, error = batch.send_prepared(start)
            start += sent
            if error in RETRY_LATER:
                self._queue(batch.pending(start), 0)
                return
            if error:  # that one datagram is refused (bad address, ICMP error...): skip it
                self._protocol.error_received(OSError(error, errno.errorcode.get(error, "")))
                start += 1

    def _writable(self) -> None:
        items = list(self._backlog)
        self._backlog.clear()
        self._loop.remove_writer(self._fd)
        self._send(items)

    # -- sending ------------------------------------------------------------------------------
    def _send(self, items: list[Item]) -> None:
        """Send `items` in order; what the kernel cannot take now waits for writability."""
        start = 0
        while start < len(items) and not self._closing:
            try:
                sent, error = self._batch.send(items, start)
            except (TypeError, ValueError, OverflowError) as exc:  # not a numeric address
                self._protocol.error_received(OSError(errno.EINVAL, str(exc)))
                start += 1
                continue
            start += sent
            if error in RETRY_LATER:
                self._queue(items, start)
                return
            if error:  # that one datagram is refused (bad address, ICMP error...): skip it
                self._protocol.error_received(OSError(error, errno.errorcode.get(error, "")))
                start += 1

    def _queue(self, items: list[Item], start: int) -> None:
        if not self._backlog:
            self._loop.add_writer(self._fd, self._writable)
        room = MAX_BACKLOG - len(self._backlog)
        self._backlog.extend(items[start : start + max(room, 0)])

    def _report(self, exc: Exception) -> None:
        self._loop.call_exception_handler(
            {"message": "datagram handling failed", "exception": exc, "transport": self}
        )

    def _lost(self) -> None:
        try:
            self._protocol.connection_lost(None)
        finally:
            self._sock.close()


def bind_batched(
    loop: asyncio.AbstractEventLoop,
    factory: BatchFactory,
    protocol: asyncio.DatagramProtocol,
    host: str,
    port: int,
    count: int,
    *,
    reuse_port: bool = False,
    receive_buffer: int = 0,
    tables: Tables | None = None,
) -> BatchedDatagramTransport:
    """A UDP socket bound to (host, port), driven in batches of up to `count` datagrams;
    `receive_buffer` (bytes) keeps a burst from overflowing the kernel's default buffer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if receive_buffer:
            with contextlib.suppress(OSError):  # the kernel default will do
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.setblocking(False)
        batch = factory(sock.fileno(), count, MAX_DATAGRAM)
        return BatchedDatagramTransport(loop, sock, protocol, batch, tables)
    except BaseException:
        sock.close()
        raise
