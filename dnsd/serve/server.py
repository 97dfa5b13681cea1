"""The DNS server shell: binds UDP and TCP listeners and moves bytes between sockets and the core.

Thin: every decision comes from `dnsd.serve.fastpath` / `dnsd.core.wire`; this module sends replies,
hands non-local names to the `ForwardHandler`, counts metrics, logs (rate-limited), and owns
listener and task lifetimes. It must not parse or build DNS messages itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import ipaddress
import logging
import socket
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from dnslib import RCODE, DNSRecord

from dnsd.config import Config
from dnsd.core.answer import ZoneSettings, serial_base_now
from dnsd.core.wire import Decision, Drop, Forward, Reply, error_reply, fit_udp, refused
from dnsd.ops.metrics import Metrics
from dnsd.serve.batch import bind_batched, binding
from dnsd.serve.fastpath import FastPath, MetricKey, metric_key
from dnsd.serve.tcp import TcpConnection
from registry import Store

log = logging.getLogger(__name__)

BIND_ATTEMPTS = 10
UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
ERROR_LOG_INTERVAL = 60.0
Send = Callable[[bytes], None]


class ForwardHandler(Protocol):
    """What the DNS shell needs from the forwarder (built in `dnsd/forward/`)."""

    def allows(self, client_ip: str) -> bool: ...  # recursion ACL; False -> REFUSED

    def cached_reply(self, query: bytes) -> bytes | None: ...  # cache hit with the query's ID

    async def forward(self, query: bytes, client_ip: str, via_tcp: bool) -> bytes | None: ...


class BindError(OSError):
    """A listener could not be bound; str() names the address and the fix."""


class DnsServer:
    """UDP and TCP listeners on each listen address, all answering from one `Store`."""

    def __init__(
        self,
        config: Config,
        store: Store,
        metrics: Metrics,
        forwarder: ForwardHandler | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        self.forwarder = forwarder
        self.settings = ZoneSettings(
            zone=config.zone,
            bare_names=config.bare_names,
            ttl=config.ttl,
            negative_ttl=config.negative_ttl,
            unhealthy=config.unhealthy,
            serial_base=serial_base_now(),
            recursion=forwarder is not None,
            max_udp_size=config.max_udp_size,
        )
        self.fastpath = FastPath(store, self.settings, metrics.queries)
        self.connections: set[TcpConnection] = set()
        self.query_log = config.query_log
        self._tasks: set[asyncio.Task[None]] = set()
        self._udp: list[asyncio.DatagramTransport] = []
        self._tcp: list[asyncio.Server] = []
        self._bound: list[tuple[str, int]] = []
        self._last_error_log = -ERROR_LOG_INTERVAL
        self._suppressed_errors = 0
        self._reuse_port = config.workers > 1  # worker processes bind the same ports

    # -- lifecycle ------------------------------------------------------------
    async def start(self, listen: Sequence[tuple[str, int]]) -> None:
        """Bind UDP and TCP on each (host, port); port 0 picks one free for both."""
        self.settings = _with_ns_addresses(self.settings, [host for host, _ in listen])
        self.fastpath.settings = self.settings
        for host, port in listen:
            self._bound.append(await self._bind(host, port))

    @property
    def listeners(self) -> list[str]:
        return [f"{proto} {_hostport(h, p)}" for h, p in self._bound for proto in ("udp", "tcp")]

    @property
    def bound(self) -> list[tuple[str, int]]:
        return list(self._bound)

    async def close(self) -> None:
        """Stop listening, drop open connections and cancel forwards in flight."""
        for transport in self._udp:
            transport.close()
        for server in self._tcp:
            server.close()
        for connection in list(self.connections):
            connection.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for server in self._tcp:
            await asyncio.wait_for(server.wait_closed(), 5.0)
        self._udp, self._tcp = [], []
        self.fastpath.close()

    async def _bind(self, host: str, port: int) -> tuple[str, int]:
        loop = asyncio.get_running_loop()
        for attempt in range(BIND_ATTEMPTS if port == 0 else 1):
            udp = await self._bind_udp(host, port)
            actual = udp.get_extra_info("sockname")[1]
            try:
                server = await loop.create_server(
                    lambda: TcpConnection(self),
                    host,
                    actual,
                    reuse_address=True,
                    reuse_port=self._reuse_port,
                )
            except OSError as exc:
                udp.close()
                if port == 0 and exc.errno == errno.EADDRINUSE and attempt < BIND_ATTEMPTS - 1:
                    continue
                raise _bind_error("tcp", host, actual, exc) from exc
            self._udp.append(udp)
            self._tcp.append(server)
            return host, actual
        raise AssertionError("unreachable")

    async def _bind_udp(self, host: str, port: int) -> asyncio.DatagramTransport:
        loop = asyncio.get_running_loop()
        factory = binding() if self.config.udp_batch > 0 else None
        try:
            if factory is not None:
                transport: asyncio.DatagramTransport = bind_batched(
                    loop,
                    factory,
                    UdpProtocol(self),
                    host,
                    port,
                    self.config.udp_batch,
                    reuse_port=self._reuse_port,
                )
            else:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: UdpProtocol(self), local_addr=(host, port), reuse_port=self._reuse_port
                )
        except OSError as exc:
            raise _bind_error("udp", host, port, exc) from exc
        sock = transport.get_extra_info("socket")
        with contextlib.suppress(OSError):  # the kernel default will do
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        return transport

    # -- per query --------------------------------------------------------------
    def deliver(
        self, decision: Decision, query: bytes, client_ip: str, send: Send, *, udp: bool
    ) -> asyncio.Task[None] | None:
        """Act on a full-path decision; returns the forwarding task, if one was started."""
        if isinstance(decision, Reply):
            if decision.error is not None:
                self.log_error("answering a query failed; replied SERVFAIL", decision.error)
            self.count(decision.qtype, decision.rcode, "local", query, client_ip)
            send(decision.data)
            return None
        if isinstance(decision, Forward):
            return self._forward(decision, query, client_ip, send, udp)
        self.drop(decision)
        return None

    def drop(self, decision: Drop) -> None:
        self.metrics.dropped_packets += 1

    def count(self, qtype: int, rcode: int, source: str, query: bytes, client_ip: str) -> None:
        self.metrics.queries[metric_key(qtype, rcode, source)] += 1
        if self.query_log:
            log_query(client_ip, query, rcode, source)

    def log_hit(self, query: bytes, reply: bytes, client_ip: str) -> None:
        log_query(client_ip, query, reply[3] & 0x0F, "local")

    def _forward(
        self, decision: Forward, query: bytes, client_ip: str, send: Send, udp: bool
    ) -> asyncio.Task[None] | None:
        forwarder = self.forwarder
        if forwarder is None or not forwarder.allows(client_ip):
            self.count(decision.qtype, RCODE.REFUSED, "local", query, client_ip)
            send(refused(query, decision.opt_size))
            return None
        cached = forwarder.cached_reply(query)
        if cached is not None:
            self._send_forwarded(cached, decision, query, client_ip, send, udp, "cache")
            return None
        return self.start_upstream(forwarder, decision, query, client_ip, send, udp)

    def start_upstream(
        self,
        forwarder: ForwardHandler,
        decision: Forward,
        query: bytes,
        client_ip: str,
        send: Send,
        udp: bool,
    ) -> asyncio.Task[None]:
        """Forward a query the cache could not answer (ACL already checked)."""
        coro = self._upstream(forwarder, decision, query, client_ip, send, udp)
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _upstream(
        self,
        forwarder: ForwardHandler,
        decision: Forward,
        query: bytes,
        client_ip: str,
        send: Send,
        udp: bool,
    ) -> None:
        started = time.perf_counter()
        try:
            reply = await forwarder.forward(query, client_ip, not udp)
        except Exception as exc:  # the forwarder's bug must not kill the server
            self.log_error("forwarding a query failed; replied SERVFAIL", exc)
            reply = error_reply(query, RCODE.SERVFAIL, with_question=True)
        if reply is None:
            return
        self._send_forwarded(reply, decision, query, client_ip, send, udp, "upstream")
        self.metrics.answer_latency.observe(time.perf_counter() - started)

    def _send_forwarded(
        self,
        reply: bytes,
        decision: Forward,
        query: bytes,
        client_ip: str,
        send: Send,
        udp: bool,
        source: str,
    ) -> None:
        if len(reply) < 12:
            return
        if udp:
            reply = fit_udp(reply, decision.udp_limit, decision.opt_size)
        self.count(decision.qtype, reply[3] & 0x0F, source, query, client_ip)
        send(reply)

    def log_error(self, what: str, exc: BaseException) -> None:
        """Log an unexpected error at most once per minute, with how many were suppressed."""
        now = time.monotonic()
        if now - self._last_error_log < ERROR_LOG_INTERVAL:
            self._suppressed_errors += 1
            return
        suppressed, self._suppressed_errors = self._suppressed_errors, 0
        self._last_error_log = now
        log.error("%s (%d similar suppressed)", what, suppressed, exc_info=exc)


class UdpProtocol(asyncio.DatagramProtocol):
    """One UDP socket: hot path first, then the full path; nothing raises out of here."""

    def __init__(self, server: DnsServer) -> None:
        self._server = server
        self._fast = server.fastpath
        self._queries = server.metrics.queries
        self._cache_metrics: dict[tuple[int, int], MetricKey] = {}  # (qtype, rcode) -> its key
        self._transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        try:
            reply = self._fast.udp(data, addr[0])
            if reply.__class__ is bytes:
                self._transport.sendto(reply, addr)  # type: ignore[union-attr]
                if self._server.query_log:
                    self._server.log_hit(data, reply, str(addr[0]))
                return
            if reply.__class__ is Forward:
                self._forwarded(reply, data, addr)
                return
            self._slow(reply, data, addr)  # type: ignore[arg-type]
        except Exception as exc:  # the UDP shell's catch-all
            self._server.log_error("UDP query handling failed", exc)

    def _forwarded(self, decision: Forward, data: bytes, addr: tuple[Any, ...]) -> None:
        """Not a local name: a forwarding-cache hit is sent from here, like a local hit."""
        server = self._server
        forwarder = server.forwarder
        client_ip: str = addr[0]
        if forwarder is None or not forwarder.allows(client_ip):
            self._slow(decision, data, addr)  # REFUSED, counted and logged there
            return
        if type(data) is not bytes:
            data = bytes(data)
        reply = forwarder.cached_reply(data)
        if reply is None:
            server.start_upstream(forwarder, decision, data, client_ip, self._sender(addr), True)
            return
        if len(reply) > decision.udp_limit:
            reply = fit_udp(reply, decision.udp_limit, decision.opt_size)
        elif len(reply) < 12:
            return
        self._transport.sendto(reply, addr)  # type: ignore[union-attr]
        rcode = reply[3] & 0x0F
        metric = self._cache_metrics.get((decision.qtype, rcode))
        if metric is None:
            metric = self._cache_metrics[(decision.qtype, rcode)] = metric_key(
                decision.qtype, rcode, "cache"
            )
        self._queries[metric] += 1
        if server.query_log:
            log_query(client_ip, data, rcode, "cache")

    def _sender(self, addr: tuple[Any, ...]) -> Send:
        def send(reply: bytes) -> None:
            transport = self._transport
            if transport is not None and not transport.is_closing():
                transport.sendto(reply, addr)

        return send

    def _slow(self, decision: Decision, data: bytes, addr: tuple[Any, ...]) -> None:
        started = time.perf_counter()
        self._server.deliver(decision, data, str(addr[0]), self._sender(addr), udp=True)
        if isinstance(decision, Reply):
            self._server.metrics.answer_latency.observe(time.perf_counter() - started)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for earlier replies: nothing to do


def log_query(client_ip: str, query: bytes, rcode: int, source: str) -> None:
    """The --query-log line: client, name, type, rcode, source."""
    try:
        question = DNSRecord.parse(query).q
        name, qtype = str(question.qname), question.qtype
    except Exception:
        name, qtype = "?", 0
    _, rcode_name, _ = metric_key(qtype, rcode, source)
    log.info("query %s %s %s -> %s (%s)", client_ip, name, metric_key(qtype, 0, "")[0],
             rcode_name, source)  # fmt: skip


def _with_ns_addresses(settings: ZoneSettings, hosts: Sequence[str]) -> ZoneSettings:
    """NS glue: the listen addresses that are real addresses, loopback only if nothing else."""
    addresses = []
    for host in hosts:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            continue
        if not ip.is_unspecified:
            addresses.append(ip)
    wide = [ip for ip in addresses if not ip.is_loopback]
    chosen = tuple(dict.fromkeys(str(ip) for ip in (wide or addresses)))
    return dataclasses.replace(settings, ns_addresses=chosen)


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _bind_error(proto: str, host: str, port: int, exc: OSError) -> BindError:
    where = f"{proto} {_hostport(host, port)}"
    if exc.errno == errno.EACCES:
        hint = f"port {port} needs root or CAP_NET_BIND_SERVICE; or use --dns-listen 127.0.0.1:5353"
    elif exc.errno == errno.EADDRINUSE:
        hint = "another DNS server (systemd-resolved, dnsmasq?) holds it; pick another --dns-listen"
    elif exc.errno == errno.EADDRNOTAVAIL:
        hint = "that address is not on this host; check --dns-listen"
    else:
        hint = "check --dns-listen"
    error = BindError(f"cannot listen on {where}: {exc.strerror or exc}; {hint}")
    error.errno = exc.errno
    return error
