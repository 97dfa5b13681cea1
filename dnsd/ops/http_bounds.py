"""Bounds on what an HTTP client can make the API hold: connections, header and URL sizes,
body size and time, idle and half-sent requests.

aiohttp's own defaults keep an idle or half-sent connection for an hour and take 1 MiB
bodies; these limits are what the API runs with instead. When the connection table is full
the oldest connection is closed (as Unbound and Knot do for TCP), so slow or idle clients
cannot shut out a new one. It must not route requests or read `ServerState`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # aiohttp loads with the HTTP API (dnsd.ops.http_api), not with this constant
    from aiohttp import web

log = logging.getLogger(__name__)

HTTP_MAX_CONNECTIONS = 64
LOG_INTERVAL = 60.0


@dataclass(frozen=True)
class HttpBounds:
    """Every limit the HTTP API applies to a client."""

    max_connections: int = HTTP_MAX_CONNECTIONS
    request_seconds: float = 10.0  # headers complete within this of connecting or the last reply
    body_seconds: float = 10.0  # a request body arrives whole within this
    max_body: int = 64 * 1024  # PUT /v1/static bodies (a record is a few hundred bytes)
    max_line: int = 4096  # request line: method, path and query string
    max_field: int = 8190  # one header line
    max_headers: int = 64
    max_addresses: int = 256  # per manual record
    max_ports: int = 256  # per manual record
    max_static_records: int = 10_000

    def runner_options(self) -> dict[str, Any]:
        """Keyword arguments for `web.AppRunner` (passed on to aiohttp's request handler)."""
        return {
            "keepalive_timeout": self.request_seconds,
            "max_line_size": self.max_line,
            "max_field_size": self.max_field,
            "max_headers": self.max_headers,
        }


def limit_connections(server: web.Server, limit: int) -> None:
    """Close the oldest connection whenever a new one would exceed `limit`."""
    accept = server.connection_made
    last_log = [-LOG_INTERVAL]

    def connection_made(handler: Any, transport: asyncio.Transport) -> None:
        accept(handler, transport)
        table = server._connections  # aiohttp's live connections, oldest first
        while len(table) > limit:
            oldest, oldest_transport = next(iter(table.items()))
            table.pop(oldest, None)
            oldest_transport.close()
            if time.monotonic() - last_log[0] >= LOG_INTERVAL:
                last_log[0] = time.monotonic()
                log.warning("HTTP API: %d connections open; closing the oldest", limit)

    server.connection_made = connection_made  # type: ignore[method-assign]
