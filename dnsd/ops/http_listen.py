"""The HTTP API's listening sockets, bound before aiohttp is even loaded.

`dnsd serve` binds every socket it needs before it drops privileges and starts its
watchers; the HTTP API's application (aiohttp, ~0.2 s to import) is then built while the
watchers already run, and serves these sockets: a client connecting meanwhile waits in
the backlog instead of being refused. Binding follows asyncio's `create_server` (what
aiohttp's `TCPSite` calls) exactly: every address `host` resolves to, SO_REUSEADDR,
IPv6 sockets IPv6-only, and the same error text. It must not know HTTP.
"""

from __future__ import annotations

import socket
from typing import Any

BACKLOG = 128  # aiohttp's default for a site


def bind_http(host: str, port: int) -> list[socket.socket]:
    """Listening, non-blocking TCP sockets on every address of `host` ('' = all) and `port`."""
    infos = socket.getaddrinfo(
        host or None, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in set(infos):  # as asyncio: distinct, any order
            try:
                sock = socket.socket(family, kind, proto)
            except OSError:  # a family this host cannot open: asyncio skips it too
                continue
            sockets.append(sock)
            _listen(sock, address)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def _listen(sock: socket.socket, address: tuple[Any, ...]) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
    if sock.family == socket.AF_INET6:  # one family per socket, as asyncio binds them
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
    try:
        sock.bind(address)
    except OSError as err:
        raise OSError(
            err.errno,
            f"error while attempting to bind on address {address!r}: "
            f"{(err.strerror or str(err)).lower()}",
        ) from None
    sock.listen(BACKLOG)
    sock.setblocking(False)
