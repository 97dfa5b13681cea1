"""The composition root: builds every part, runs them in one loop, stops them in order.

The only module that imports `watchers`. It owns startup (bind DNS, start the
HTTP API and the supervised watchers), waits for SIGTERM/SIGINT, and shuts
down within a bounded time. What only some setups use (the Docker SDK, aiohttp)
is imported when it is used. No DNS or Docker logic lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import signal
import socket
import struct
import sys
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, cast

from dnsd import privileges
from dnsd.config import Config, notify_socket
from dnsd.forward import Forwarder, default_upstreams, read_resolv_conf
from dnsd.forward import budget as budget_plan
from dnsd.forward.admission import default_cap
from dnsd.ops.change_feed import ChangeFeed
from dnsd.ops.http_bounds import HTTP_MAX_CONNECTIONS
from dnsd.ops.http_listen import bind_http
from dnsd.ops.logs import log_registry_changes
from dnsd.ops.metrics import Metrics
from dnsd.ops.readiness import notify_when_synced
from dnsd.ops.sdnotify import Notifier
from dnsd.ops.state import ServerState, WatcherReport
from dnsd.parsers import HostPort, format_host_port
from dnsd.serve.listeners import DnsServer
from dnsd.workers import WorkerPool
from registry import History, Store
from watchers.base import Supervisor, Watcher, WatcherState
from watchers.records_file import RecordsFile

if TYPE_CHECKING:  # loaded when used: the Docker SDK only with Docker, aiohttp with the API
    from aiohttp import web

    from watchers.docker_watcher import DockerWatcher

    StartHttp = Callable[..., Awaitable[tuple[web.AppRunner, list[str]]]]

log = logging.getLogger(__name__)

SHUTDOWN_SECONDS = 1.5
STOP_DEADLINE = 4.0  # the whole ordered stop; the process then exits without teardown
HTTP_HOLD = 1.0  # at most this long after the watchers start, the HTTP API is served


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
    swarm = config.swarm == "on" or (config.swarm == "auto" and config.docker)
    if config.docker:
        from watchers.docker_watcher import DockerWatcher

        watchers.append(
            DockerWatcher(url=config.docker_url, host_ip=config.host_ip, leave_swarm_tasks=swarm)
        )
    if swarm:
        from watchers.swarm_watcher import SwarmWatcher

        watchers.append(SwarmWatcher(url=config.docker_url, required=config.swarm == "on"))
    return watchers


def docker_watcher(watchers: Iterable[Watcher]) -> DockerWatcher | None:
    """The Docker watcher among `watchers`, if any. Its module (and the Docker SDK) is only
    loaded once Docker is enabled, so without it there is nothing to look for."""
    module = sys.modules.get("watchers.docker_watcher")
    if module is None:
        return None
    kind = module.DockerWatcher
    return cast("DockerWatcher | None", next((w for w in watchers if isinstance(w, kind)), None))


def build_forwarder(
    config: Config,
    metrics: Metrics,
    listen: Sequence[HostPort],
    watchers: Sequence[Watcher],
    store: Store,
    *,
    subnets: Callable[[], frozenset[str]] | None = None,
) -> Forwarder:
    """The forwarder for non-local names; upstreams default to /etc/resolv.conf. Docker
    networks' subnets (registry data, published by the Docker watcher) may recurse; `subnets`
    stands in where there is no Docker watcher (a --workers process gets them from its parent)."""
    if config.upstreams is not None:
        upstreams = list(config.upstreams)
    else:
        upstreams = default_upstreams(read_resolv_conf(), listen)
    docker = docker_watcher(watchers)
    budget = descriptor_budget(config, len(upstreams), len(listen), len(watchers))
    dynamic = _registry_subnets(store) if docker and config.allow_recursion is None else subnets
    forwarder = Forwarder(
        upstreams,
        metrics,
        timeout=config.upstream_timeout,
        deadline=config.forward_deadline,
        cache_size=config.cache_size,
        cache_max_ttl=config.cache_max_ttl,
        serve_stale=config.serve_stale,
        allow=config.allow_recursion,
        dynamic_allow=dynamic,
        own_addresses=listen,
        max_in_flight=budget.cap,
        negative_ttl=config.negative_ttl,
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


def descriptor_budget(
    config: Config, upstreams: int, listen: int, watchers: int
) -> budget_plan.Budget:
    """Raise the open-files limit and size the in-flight cap so the rest keeps descriptors."""
    soft_before, soft = budget_plan.raise_open_files_limit()
    reserved = budget_plan.reserved_descriptors(
        listen, config.tcp_max_connections, HTTP_MAX_CONNECTIONS, watchers
    )
    wanted = config.forward_max_in_flight or default_cap(upstreams)
    budget = budget_plan.plan(wanted, soft_before, soft, reserved)
    log.info(
        "open files: limit %d (was %d), %d kept for listeners, TCP, HTTP and watchers; "
        "forwarding at most %d queries at once",
        soft, soft_before, reserved, budget.cap,
    )  # fmt: skip
    if budget.lowered:
        log.warning(
            "the open-files limit %d leaves room for only %d forwarded queries in flight "
            "(--forward-max-in-flight wants %d); raise the hard limit (ulimit -Hn, LimitNOFILE=)",
            soft, budget.cap, wanted,
        )  # fmt: skip
    return budget


def build_cluster(config: Config) -> Any:
    """The cluster member for --cluster-etcd (imports the optional `dnsd[cluster]` extra)."""
    try:
        from watchers.cluster.setup import member_from
    except ImportError as exc:
        log.error("--cluster-etcd needs the cluster extra (%s): pip install 'dnsd[cluster]'", exc)
        raise SystemExit(2) from None
    return member_from(
        config.cluster_etcd,
        config.zone,
        node=config.node,
        advertise_ip=config.advertise_ip,
        tls=(config.etcd_cacert, config.etcd_cert, config.etcd_key),
        credentials=(config.etcd_user, config.etcd_password),
        max_txn_ops=config.etcd_max_txn_ops,
        lease_ttl=config.cluster_lease_ttl,
        keep_remote=config.cluster_keep_remote,
        publish=config.cluster_publish,
    )


def _import_http_api() -> StartHttp:
    """The HTTP API's `start_http`, imported when it starts (in a thread: see `App.start`)."""
    from dnsd.ops.http_api import start_http

    return start_http


CLUSTER_STATES = {
    "connected": WatcherState.CONNECTED,
    "connecting": WatcherState.RESYNCING,
    "disconnected": WatcherState.BACKING_OFF,
}


def _registry_subnets(store: Store) -> Callable[[], Iterable[str]]:
    return lambda: store.snapshot.subnets()


class App:
    """Everything `dnsd serve` runs, with ordered start and stop."""

    def __init__(self, config: Config, listen: Sequence[HostPort]) -> None:
        self.config = config
        self.listen = list(listen)
        watchers = build_watchers(config)
        # until each source has synced once, unknown names in the zone are not denied
        self.store = Store(pending=[watcher.source for watcher in watchers])
        self.metrics = Metrics()
        self.state = ServerState(config, self.store, self.metrics)
        self.state.changes = ChangeFeed(self.store, History(config.history_size, config.unhealthy))
        self.cluster = build_cluster(config) if config.cluster_etcd else None
        apply = self.cluster.attach(self.store) if self.cluster else self.store.apply
        self.supervisors = [Supervisor(w, apply) for w in watchers]
        if self.cluster is not None:
            self.supervisors.append(Supervisor(self.cluster, self.store.apply))
            self.state.cluster_report = self.cluster.report
        self.state.watcher_report = self._watcher_report
        docker = docker_watcher(watchers)
        self.state.docker_source = docker.source if docker is not None else None
        self.forwarder = build_forwarder(config, self.metrics, self.listen, watchers, self.store)
        self.state.forwarder_stats = self.forwarder.stats
        self.dns = DnsServer(config, self.store, self.metrics, self.forwarder)
        self.workers = WorkerPool(
            config, self.store, build_forwarder, docker.subnets if docker else None
        )
        self.http: web.AppRunner | None = None
        self._http_sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe = log_registry_changes(self.store)

    def _watcher_report(self) -> list[WatcherReport]:
        return [
            WatcherReport(
                source=s.status.source,
                state=self._state_of(s).value,
                last_event=s.status.last_event,
                last_error=s.status.last_error,
                synced_once=s.status.synced_once,
                events=s.status.events,
                resyncs=s.status.resyncs,
                reconnects=s.status.reconnects,
            )
            for s in self.supervisors
        ]

    def _state_of(self, supervisor: Supervisor) -> WatcherState:
        """The supervisor's state; the cluster member reports its own connection."""
        if (
            supervisor.watcher is self.cluster
            and supervisor.status.state is not WatcherState.STOPPED
        ):
            return CLUSTER_STATES.get(
                str(getattr(self.cluster, "state", "")), WatcherState.STARTING
            )
        return supervisor.status.state

    async def start(self) -> None:
        """Bind DNS first (a clear error if it cannot), then the HTTP API's sockets; drop
        privileges and start the watchers. The HTTP API (aiohttp: 0.2-0.3 s of CPU to import)
        is served on those sockets once the watchers' first load is applied, or after
        `HTTP_HOLD` seconds: the load is the CPU's first job, and a client of the API waits in
        the backlog meanwhile, never refused. When privileges are dropped to another user,
        aiohttp is imported before (that user may not be able to read it)."""
        await self.dns.start(self.listen)
        self.state.listeners = list(self.dns.listeners)
        self.state.dns_bound = True
        log.info("dnsd serving zone %s on %s", self.config.zone, ", ".join(self.dns.listeners))
        if self.config.workers > 1:
            await self.workers.start(self.dns.bound)
            log.info("%d DNS worker processes share those ports", self.config.workers - 1)
        http = self.config.http_listen
        sockets = self._http_sockets = self._bind_http(*http) if http is not None else []
        start_http: StartHttp | None = None
        if http is not None and privileges.switches_user(self.config.user):
            start_http = await asyncio.to_thread(_import_http_api)  # DNS answers meanwhile
        # Everything is bound: give up root/capabilities before any watcher runs.
        docker_gids = privileges.socket_gid(self.config.docker_url) if self.config.docker else ()
        log.info("%s", privileges.drop(self.config.user, docker_gids))
        for supervisor in self.supervisors:
            self._tasks.append(
                asyncio.create_task(supervisor.run(), name=supervisor.watcher.source)
            )
        if http is not None:
            serve = self._serve_http(http, sockets, start_http)
            self._tasks.append(asyncio.create_task(serve, name="http"))

    async def _serve_http(
        self, where: tuple[str, int], sockets: list[socket.socket], start_http: StartHttp | None
    ) -> None:
        if start_http is None:
            await self.first_load(HTTP_HOLD)
            start_http = await asyncio.to_thread(_import_http_api)  # DNS answers meanwhile
        try:
            self.http, addresses = await start_http(self.state, *where, sockets=sockets)
        except Exception:
            log.exception("the HTTP API could not start")
            return
        self.state.listeners += [f"http {a}" for a in addresses]

    async def first_load(self, timeout: float) -> None:
        """Until every watcher's first load is applied (the cluster's whole load, not its
        first node), or `timeout` seconds."""
        waits = [s.synced.wait() for s in self.supervisors if s.watcher is not self.cluster]
        if self.cluster is not None:
            waits.append(self.cluster.loaded.wait())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*waits), timeout)

    @staticmethod
    def _bind_http(host: str, port: int) -> list[socket.socket]:
        try:
            return bind_http(host, port)
        except OSError as exc:
            raise OSError(
                f"cannot listen for HTTP on {format_host_port(host, port)}: "
                f"{exc.strerror or exc}; choose another --http-listen or 'off'"
            ) from None

    def reload(self) -> None:
        """SIGHUP: re-read every records file now, changed or not."""
        files = [s.watcher for s in self.supervisors if isinstance(s.watcher, RecordsFile)]
        for watcher in files:
            watcher.reload()
        log.info("SIGHUP: re-reading %d records file(s)", len(files))

    async def stop(self) -> None:
        """Stop watchers, then the HTTP API, then DNS, then the forwarder; bounded in time."""
        for task in self._tasks:
            task.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*self._tasks, return_exceptions=True), SHUTDOWN_SECONDS
            )
        if self.state.changes is not None:
            self.state.changes.close()
        if self.http is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.http.cleanup(), 0.5)
        else:  # stopped before the HTTP API was served on its sockets
            for sock in self._http_sockets:
                sock.close()
        await self.workers.stop()
        await self.dns.close()
        await self.forwarder.close()
        self._unsubscribe()


async def serve(config: Config) -> int:
    """Run until SIGTERM/SIGINT; return the exit status."""
    privileges.prepare(config.user)  # before any thread exists (see dnsd.privileges)
    app = App(config, listen_addresses(config))
    notifier = Notifier(notify_socket())  # connected before privileges are dropped
    try:
        await app.start()
    except privileges.PrivilegeError as exc:
        log.error("%s", exc)
        await app.stop()
        notifier.close()
        return 1
    except OSError as exc:  # a listener could not be bound: the setting cannot be used
        log.error("%s", exc)
        await app.stop()
        notifier.close()
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, app.reload)
    sources = [(s.watcher.source, s.synced) for s in app.supervisors]
    ready = asyncio.create_task(notify_when_synced(notifier, sources, app.state.listeners))
    await stop.wait()
    log.info("shutting down")
    notifier.stopping()
    ready.cancel()
    try:
        await asyncio.wait_for(app.stop(), STOP_DEADLINE)
    except TimeoutError:
        log.warning("shutdown did not finish within %.0f s; exiting anyway", STOP_DEADLINE)
    notifier.close()
    return 0
