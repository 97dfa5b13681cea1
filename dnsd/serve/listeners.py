"""The DNS listeners: bind UDP and TCP on each listen address, close them, explain bind errors.

`DnsServer` assembles one server from a `Config`: zone settings (`dnsd.core.zone`, with the
clock read here), the pipeline, and a UDP and a TCP shell per address. It owns
listener lifetimes only; every query goes through the pipeline. It must not answer, count or
log queries.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Sequence

from dnsd.config import Config
from dnsd.core.zone import zone_settings
from dnsd.ops.metrics import Metrics
from dnsd.parsers import HostPort, format_host_port
from dnsd.serve.batch import bind_batched, binding
from dnsd.serve.pipeline import ForwardHandler, Pipeline
from dnsd.serve.port_owner import port_holders
from dnsd.serve.tcp import TcpLimits, TcpShell
from dnsd.serve.udp import UdpShell
from registry import Store

BIND_ATTEMPTS = 10  # port 0: tries to find one port free for both UDP and TCP
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
CLOSE_SECONDS = 5.0


class BindError(OSError):
    """A listener could not be bound; str() names the address and the fix."""


class DnsServer:
    """UDP and TCP listeners on each listen address, all answering through one `Pipeline`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        metrics: Metrics,
        forwarder: ForwardHandler | None = None,
    ) -> None:
        self.config = config
        self._store = store
        self._metrics = metrics
        self._forwarder = forwarder
        self.pipeline: Pipeline | None = None
        self.tcp_limits = TcpLimits(
            config.tcp_idle_timeout, config.tcp_max_connections, config.tcp_message_timeout
        )
        self._udp: list[asyncio.DatagramTransport] = []
        self._tcp: list[asyncio.Server] = []
        self._bound: list[HostPort] = []
        self._reuse_port = config.workers > 1  # --workers: other processes bind the same ports

    async def start(self, listen: Sequence[HostPort]) -> None:
        """Bind UDP and TCP on each (host, port); port 0 picks one free for both."""
        settings = zone_settings(
            self.config,
            [host for host, _ in listen],
            recursion=self._forwarder is not None,
        )
        self.pipeline = Pipeline(
            self._store, settings, self._metrics, self._forwarder, query_log=self.config.query_log
        )
        for host, port in listen:
            self._bound.append(await self._bind(self.pipeline, host, port))

    @property
    def listeners(self) -> list[str]:
        return [
            f"{proto} {format_host_port(h, p)}" for h, p in self._bound for proto in ("udp", "tcp")
        ]

    @property
    def bound(self) -> list[HostPort]:
        """The (host, port) pairs listening now; empty once closed."""
        return list(self._bound)

    @property
    def udp_transports(self) -> list[asyncio.DatagramTransport]:
        """The UDP listeners' transports (batched ones count what the C hit path served)."""
        return list(self._udp)

    @property
    def connections(self) -> set[TcpShell]:
        return self.tcp_limits.open

    async def close(self) -> None:
        """Stop listening, drop open connections and cancel forwards in flight (idempotent)."""
        for transport in self._udp:
            transport.close()
        for server in self._tcp:
            server.close()
        for connection in list(self.tcp_limits.open):
            connection.abort()
        if self.pipeline is not None:
            await self.pipeline.close()
        for server in self._tcp:
            await asyncio.wait_for(server.wait_closed(), CLOSE_SECONDS)
        self._udp, self._tcp, self._bound = [], [], []

    async def _bind(self, pipeline: Pipeline, host: str, port: int) -> HostPort:
        loop = asyncio.get_running_loop()
        for attempt in range(BIND_ATTEMPTS if port == 0 else 1):
            udp = await self._bind_udp(pipeline, host, port)
            actual = udp.get_extra_info("sockname")[1]
            try:
                server = await loop.create_server(
                    lambda: TcpShell(pipeline, self.tcp_limits),
                    host,
                    actual,
                    reuse_address=True,
                    reuse_port=self._reuse_port,
                )
            except OSError as exc:
                udp.close()
                if port == 0 and exc.errno == errno.EADDRINUSE and attempt < BIND_ATTEMPTS - 1:
                    continue
                raise bind_error("tcp", host, actual, exc) from exc
            self._udp.append(udp)
            self._tcp.append(server)
            return host, actual
        raise AssertionError("unreachable")

    async def _bind_udp(
        self, pipeline: Pipeline, host: str, port: int
    ) -> asyncio.DatagramTransport:
        """Bind the socket here (the event loop's own bind drops the errno), then hand it over."""
        loop = asyncio.get_running_loop()
        batch = binding() if self.config.udp_batch > 0 else None
        try:
            if batch is not None:  # recvmmsg/sendmmsg: many datagrams per system call
                return bind_batched(
                    loop,
                    batch,
                    UdpShell(pipeline),
                    host,
                    port,
                    self.config.udp_batch,
                    reuse_port=self._reuse_port,
                    receive_buffer=UDP_RECEIVE_BUFFER,
                    tables=pipeline.hit_tables,
                )
        except OSError as exc:
            raise bind_error("udp", host, port, exc) from exc
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            with contextlib.suppress(OSError):  # the kernel default will do
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
            if self._reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((host, port))
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(
                lambda: UdpShell(pipeline), sock=sock
            )
        except OSError as exc:
            sock.close()
            raise bind_error("udp", host, port, exc) from exc
        return transport


def bind_error(proto: str, host: str, port: int, exc: OSError) -> BindError:
    """The one-line reason a listener could not be bound: errno, who holds the port, the fix."""
    where = f"{proto} {format_host_port(host, port)}"
    code = errno.errorcode.get(exc.errno or 0, "")
    reason = f"{exc.strerror or exc}" + (f" ({code})" if code else "")
    if exc.errno == errno.EACCES:
        hint = f"port {port} needs root or CAP_NET_BIND_SERVICE; or use --dns-listen 127.0.0.1:5353"
    elif exc.errno == errno.EADDRINUSE:
        holders = port_holders(proto, port)
        who = f"held by {', '.join(holders)}" if holders else "another program holds it"
        hint = f"{who}; stop it or pick another --dns-listen"
    elif exc.errno == errno.EADDRNOTAVAIL:
        hint = f"{host} is not an address of this host (see `ip -br addr`); check --dns-listen"
    else:
        hint = "check --dns-listen"
    error = BindError(f"cannot listen on {where}: {reason}; {hint}")
    error.errno = exc.errno
    return error
