"""The UDP shell: one asyncio DatagramProtocol per socket, handing datagrams to the pipeline.

Writes what `Pipeline.handle` returns: bytes at once, a task's result when it is done, nothing
for None. It must not parse DNS, count, decide or reach into a server object; its one catch-all
keeps an exception from escaping the event loop's callback.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from dnsd.serve.pipeline import Pipeline

Address = tuple[Any, ...]


class UdpShell(asyncio.DatagramProtocol):
    """One UDP socket."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._handle = pipeline.handle
        self._log_error = pipeline.log_error
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            reply = self._handle(data, addr[0], True)
            if reply.__class__ is bytes:
                self._transport.sendto(reply, addr)  # type: ignore[union-attr]
            elif reply is not None:
                reply.add_done_callback(partial(self._send_later, addr))  # type: ignore[union-attr]
        except Exception as exc:  # the UDP shell's catch-all
            self._log_error("UDP query handling failed", exc)

    def _send_later(self, addr: Address, task: asyncio.Task[bytes | None]) -> None:
        transport = self._transport
        if task.cancelled() or task.exception() is not None or transport is None:
            return
        reply = task.result()
        if reply is not None and not transport.is_closing():
            transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies: nothing to do
