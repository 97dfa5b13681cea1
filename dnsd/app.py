"""The composition root: builds every part, runs them in one loop, stops them in order.

The only module that imports `watchers`. It owns startup (bind DNS, start the
HTTP API and the supervised watchers), waits for SIGTERM/SIGINT, and shuts
down within a bounded time. No DNS or Docker logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import signal
import socket
import struct
from collections.abc import Callable, Sequence

from aiohttp import web

from dnsd.config import Config
from dnsd.forward import Forwarder, default_upstreams, read_resolv_conf
from dnsd.ops.http_api import start_http
from dnsd.ops.logs import log_registry_changes
from dnsd.ops.metrics import Metrics
from dnsd.ops.state import ServerState, WatcherReport
from dnsd.parsers import HostPort, format_host_port
from dnsd.serve.listeners import DnsServer
from dnsd.workers import WorkerPool
from registry import Store
from watchers.base import Supervisor, Watcher
from watchers.docker_watcher import DockerWatcher
from watchers.records_file import RecordsFile

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 1.5


def interface_ipv4(name: str) -> str | None:
    """The IPv4 address of network interface `name` (e.g. docker0), or None."""
    siocgifaddr = 0x8915
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            packed = fcntl.ioctl(
                sock.fileno(), siocgifaddr, struct.pack("256s", name[:15].encode())
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


def listen_addresses(config: Config) -> list[HostPort]:
    """The DNS listen addresses: the configured ones, or 'auto'."""
    if config.dns_listen is not None:
        return list(config.dns_listen)
    addresses: list[HostPort] = [("127.0.0.1", 53)]
    gateway = interface_ipv4("docker0")
    if gateway:
        addresses.append((gateway, 53))
    else:
        log.info("no docker0 interface: listening on 127.0.0.1:53 only")
    return addresses


def build_watchers(config: Config) -> list[Watcher]:
    watchers: list[Watcher] = [RecordsFile(path, config.zone) for path in config.records]
    if config.docker:
        watchers.append(DockerWatcher(url=config.docker_url, host_ip=config.host_ip))
    return watchers


def build_forwarder(
    config: Config,
    metrics: Metrics,
    listen: Sequence[HostPort],
    watchers: Sequence[Watcher],
    *,
    subnets: Callable[[], frozenset[str]] | None = None,
) -> Forwarder:
    """The forwarder for non-local names; upstreams default to /etc/resolv.conf. `subnets`
    stands in for the Docker watcher's networks where there is none (a --workers process)."""
    if config.upstreams is not None:
        upstreams = list(config.upstreams)
    else:
        upstreams = default_upstreams(read_resolv_conf(), listen)
    docker = next((w for w in watchers if isinstance(w, DockerWatcher)), None)
    forwarder = Forwarder(
        upstreams,
        metrics,
        timeout=config.upstream_timeout,
        deadline=config.forward_deadline,
        cache_size=config.cache_size,
        cache_max_ttl=config.cache_max_ttl,
        serve_stale=config.serve_stale,
        allow=config.allow_recursion,
        dynamic_allow=docker.subnets if docker and config.allow_recursion is None else subnets,
        own_addresses=listen,
    )
    if forwarder.upstreams:
        log.info(
            "forwarding other names to %s",
            ", ".join(format_host_port(h, p) for h, p in forwarder.upstreams),
        )
    else:
        log.warning(
            "no upstream resolver (none given with --upstream, none usable in /etc/resolv.conf): "
            "names outside %s are answered REFUSED",
            config.zone,
        )
    return forwarder


class App:
    """Everything `dnsd serve` runs, with ordered start and stop."""

    def __init__(self, config: Config, listen: Sequence[HostPort]) -> None:
        self.config = config
        self.listen = list(listen)
        self.store = Store()
        self.metrics = Metrics()
        self.state = ServerState(config, self.store, self.metrics)
        watchers = build_watchers(config)
        self.supervisors = [Supervisor(w, self.store.apply) for w in watchers]
        self.state.watcher_report = self._watcher_report
        docker = next((w for w in watchers if isinstance(w, DockerWatcher)), None)
        self.state.docker_source = docker.source if docker is not None else None
        self.forwarder = build_forwarder(config, self.metrics, self.listen, watchers)
        self.state.forwarder_stats = self.forwarder.stats
        self.dns = DnsServer(config, self.store, self.metrics, self.forwarder)
        docker = next((w for w in watchers if isinstance(w, DockerWatcher)), None)
        self.workers = WorkerPool(
            config, self.store, build_forwarder, docker.subnets if docker else None
        )
        self.http: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe = log_registry_changes(self.store)

    def _watcher_report(self) -> list[WatcherReport]:
        return [
            WatcherReport(
                source=s.status.source,
                state=s.status.state.value,
                last_event=s.status.last_event,
                last_error=s.status.last_error,
                synced_once=s.status.synced_once,
                events=s.status.events,
                resyncs=s.status.resyncs,
                reconnects=s.status.reconnects,
            )
            for s in self.supervisors
        ]

    async def start(self) -> None:
        """Bind DNS first (a clear error if it cannot), then the HTTP API, then the watchers."""
        await self.dns.start(self.listen)
        self.state.listeners = list(self.dns.listeners)
        self.state.dns_bound = True
        log.info("dnsd serving zone %s on %s", self.config.zone, ", ".join(self.dns.listeners))
        if self.config.workers > 1:
            await self.workers.start(self.dns.bound)
            log.info("%d DNS worker processes share those ports", self.config.workers - 1)
        if self.config.http_listen is not None:
            host, port = self.config.http_listen
            try:
                self.http, addresses = await start_http(self.state, host, port)
            except OSError as exc:
                where = format_host_port(host, port)
                raise OSError(
                    f"cannot listen for HTTP on {where}: {exc.strerror or exc}; "
                    "choose another --http-listen or 'off'"
                ) from None
            self.state.listeners += [f"http {a}" for a in addresses]
        for supervisor in self.supervisors:
            self._tasks.append(
                asyncio.create_task(supervisor.run(), name=supervisor.watcher.source)
            )

    async def stop(self) -> None:
        """Stop watchers, then the HTTP API, then DNS, then the forwarder; bounded in time."""
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*self._tasks, return_exceptions=True), SHUTDOWN_SECONDS
            )
        if self.http is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.http.cleanup(), 0.5)
        await self.workers.stop()
        await self.dns.close()
        await self.forwarder.close()
        self._unsubscribe()


async def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; return the exit status."""
    app = App(config, listen_addresses(config))
    try:
        await app.start()
    except OSError as exc:
        log.error("%s", exc)
        await app.stop()
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await app.stop()
    return 0
