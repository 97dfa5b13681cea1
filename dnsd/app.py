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
from collections.abc import Sequence

from dnsd.config import Config, HostPort
from dnsd.metrics import Metrics
from dnsd.server import DnsServer
from dnsd.state import ServerState
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


class App:
    """Everything `dnsd serve` runs, with ordered start and stop."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store()
        self.metrics = Metrics()
        self.state = ServerState(config, self.store, self.metrics)
        self.supervisors = [Supervisor(w, self.store.apply) for w in build_watchers(config)]
        self.state.watcher_report = self._watcher_report
        self.dns = DnsServer(config, self.store, self.metrics, None)
        self._tasks: list[asyncio.Task[None]] = []

    def _watcher_report(self) -> list[dict[str, object]]:
        return [
            {
                "source": s.status.source,
                "state": s.status.state.value,
                "last_event": s.status.last_event,
                "last_error": s.status.last_error,
                "synced_once": s.status.synced_once,
                "events": s.status.events,
                "resyncs": s.status.resyncs,
                "reconnects": s.status.reconnects,
            }
            for s in self.supervisors
        ]

    async def start(self, listen: Sequence[HostPort]) -> None:
        for supervisor in self.supervisors:
            self._tasks.append(
                asyncio.create_task(supervisor.run(), name=supervisor.watcher.source)
            )
        await self.dns.start(listen)
        self.state.listeners = list(self.dns.listeners)
        self.state.dns_bound = True
        log.info("dnsd serving zone %s on %s", self.config.zone, ", ".join(self.dns.listeners))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*self._tasks, return_exceptions=True), SHUTDOWN_SECONDS
            )
        await self.dns.close()


async def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; return the exit status."""
    app = App(config)
    try:
        await app.start(listen_addresses(config))
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
