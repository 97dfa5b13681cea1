"""The Docker watcher: keeps the registry equal to what the engine is running.

Each (re)connect notes the engine's clock, lists the networks (one `Networks`
event: names, subnets, gateways), lists and inspects every running container,
yields one `Resync`, then follows the event stream from that moment
(duplicates are harmless: a re-inspect is idempotent). On a Swarm host each
container's docker_gwbridge address (the source of its queries to the host) is read
from that network's inspect at each resync and after events that may move it
(`docker_gwbridge`: one inspect per burst); a container whose address moved is
inspected again, its endpoint carrying it as a client-only address. A container going away
(`die`, `stop`, a `kill` with a stopping signal) is removed at once, before
any inspect; a killed container still running later is inspected again.
Inspections run side by side (a slow one never holds up another container's
events); `docker_order.Tickets` keeps their results in order per container.
The SDK blocks, so engine calls run in a small pool of daemon threads and the
event stream is pumped from one into an asyncio queue; closing the generator
closes the stream.
Failures leave `watch()` as `DockerUnavailable`; the `Supervisor` retries.
Must not touch the store or decide answers: that is `registry`'s job.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import docker
import docker.errors
import requests

from registry import Endpoint, Event, Network, Networks, Remove, Resync, Upsert
from watchers.docker_events import (
    EVENT_FILTERS,
    KILL_RECHECK_SECONDS,
    EventAction,
    Reaction,
    action_for_event,
    describe_event,
    is_stopping_signal,
    moves_gwbridge,
    resync_reason,
    stop_signal_of,
)
from watchers.docker_gwbridge import GatewayBridge
from watchers.docker_networks import (
    bridge_gateway,
    has_gwbridge,
    networks_from_listing,
    subnets_of,
)
from watchers.docker_order import Inspected, Recheck, Tickets
from watchers.docker_threads import DaemonPool, StreamEnd, start_pump
from watchers.docker_translate import Json, container_labels, endpoint_from_inspect, overlays_of
from watchers.swarm_translate import TASK_LABEL, is_manager

DEFAULT_URL = "unix:///var/run/docker.sock"
API_TIMEOUT = 15.0
CALL_THREADS = 8  # engine calls at once per watcher
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")
T = TypeVar("T")

GWBRIDGE_REASON = "inspected again: its docker_gwbridge address changed"
_ENGINE_ERRORS = (docker.errors.DockerException, requests.RequestException, OSError)


class DockerUnavailable(ConnectionError):
    """The engine cannot be reached, or its event stream broke."""


_Item = Json | StreamEnd | Recheck | Inspected


class DockerWatcher:
    """A `Watcher` over one Docker engine (`url`: unix://, tcp://...; None = DOCKER_HOST/default).

    `host_ip` is answered for host-network containers; None means the default
    bridge's gateway as found at each resync. With `leave_swarm_tasks`, Swarm
    task containers are left to the Swarm watcher whenever the engine is a
    Swarm manager (checked at each resync); on a worker they stay containers.
    """

    def __init__(
        self,
        source: str = "docker",
        url: str | None = None,
        host_ip: str | None = None,
        leave_swarm_tasks: bool = False,
    ) -> None:
        self.source = source
        self.url = url
        self.host_ip = host_ip
        self.leave_swarm_tasks = leave_swarm_tasks
        self._skip_tasks = False
        self._subnets: frozenset[str] = frozenset()
        self._overlays: frozenset[str] = frozenset()
        self._networks: tuple[Network, ...] = ()
        self._bridge_gateway: str | None = None
        self._gwbridge = GatewayBridge()
        self._connections = 0
        self._stop_signals: dict[str, int | None] = {}  # container id -> its StopSignal
        self.recheck_after = KILL_RECHECK_SECONDS
        self._pool = DaemonPool(CALL_THREADS, "dnsd-docker-call")

    def subnets(self) -> frozenset[str]:
        """CIDRs of every local Docker network, as of the last resync or network event."""
        return self._subnets

    unit = "containers"  # what the sync summary line counts

    @property
    def display_url(self) -> str:
        return self.url or str(_env_kwargs().get("base_url") or DEFAULT_URL)

    @property
    def where(self) -> str:
        return self.display_url

    async def watch(self) -> AsyncIterator[Event]:
        self._pool = DaemonPool(CALL_THREADS, "dnsd-docker-call")
        client = await self._call(self._connect)
        stream: Any = None
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        timers: list[asyncio.TimerHandle] = []
        inspections: set[asyncio.Task[None]] = set()
        tickets = Tickets()
        try:
            info = await self._call(client.info)
            since = _engine_time_of(info)
            self._skip_tasks = self.leave_swarm_tasks and is_manager(info)
            await self._call(lambda: self._refresh_networks(client))
            yield Networks(self.source, self._networks)
            endpoints = await self._call(lambda: self._list(client))
            self._connections += 1
            yield Resync(self.source, endpoints, resync_reason(self._connections))
            stream = await self._call(
                lambda: client.events(decode=True, since=since, filters=EVENT_FILTERS)
            )
            start_pump(stream, queue)
            while True:
                item = await queue.get()
                if isinstance(item, StreamEnd):
                    _raise_stream_end(item, self.display_url)
                if isinstance(item, Inspected):
                    if item.error is not None:
                        raise item.error
                    if tickets.finish(item.container_id, item.ticket) and item.event:
                        yield item.event
                    continue
                if isinstance(item, Recheck):
                    action = EventAction(Reaction.REINSPECT, item.container_id)
                    reason = item.reason or "inspected again after a kill it may have survived"
                else:
                    action = self._judge_kill(action_for_event(item), queue, timers)
                    reason = describe_event(item)
                    if moves_gwbridge(item) and action.reaction is not Reaction.NETWORKS:
                        self._gwbridge_moved(client, queue)
                if action.reaction is Reaction.REINSPECT:
                    ticket = tickets.start(action.container_id)
                    job = self._inspect(client, action.container_id, ticket, reason, queue)
                    inspections.add(task := asyncio.create_task(job))
                    task.add_done_callback(inspections.discard)
                    continue
                if action.reaction in (Reaction.GONE, Reaction.REMOVE):
                    tickets.now(action.container_id)
                event = await self._react(client, action, reason)
                if action.reaction is Reaction.NETWORKS:
                    self._gwbridge_moved(client, queue)  # the listing says if it exists
                if event is not None:
                    yield event
        finally:
            self._gwbridge.close()
            for timer in timers:
                timer.cancel()
            for task in inspections:
                task.cancel()
            _close_quietly(stream)
            _close_quietly(client)
            self._pool.close()

    async def probe(self) -> bool:
        """A cheap check that the engine answers: GET /_ping on a unix socket (200), or a TCP
        connect for tcp:// URLs (TLS is left to the real reconnect). No thread, no SDK; the
        socket is ours and closed on every path (the supervisor cancels a slow probe)."""
        url = self.display_url
        loop = asyncio.get_running_loop()
        try:
            if url.startswith("unix://"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address: Any = url.removeprefix("unix://")
            else:
                host, _, port = url.split("://", 1)[-1].rstrip("/").rpartition(":")
                address = (host.strip("[]"), int(port))
                sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        except (OSError, ValueError):
            return False
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            if sock.family != socket.AF_UNIX:
                return True
            await loop.sock_sendall(sock, b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return (await loop.sock_recv(sock, 64)).split(b" ")[1:2] == [b"200"]
        except OSError:
            return False
        finally:
            sock.close()

    def _judge_kill(
        self, action: EventAction, queue: asyncio.Queue[_Item], timers: list[asyncio.TimerHandle]
    ) -> EventAction:
        """A kill with a stopping signal: gone now, and inspected again later."""
        if action.reaction is not Reaction.KILLED:
            return action
        cid = action.container_id
        if not is_stopping_signal(action.signal, self._stop_signals.get(cid)):
            return EventAction(Reaction.REINSPECT, cid)
        loop = asyncio.get_running_loop()
        timers[:] = [t for t in timers if not t.cancelled() and t.when() > loop.time()]
        timers.append(loop.call_later(self.recheck_after, queue.put_nowait, Recheck(cid)))
        return EventAction(Reaction.GONE, cid)

    def _gwbridge_moved(self, client: Any, queue: asyncio.Queue[_Item]) -> None:
        """Refresh the docker_gwbridge addresses; inspect again each container whose moved."""
        self._gwbridge.request(
            client,
            self._call,
            lambda cid: queue.put_nowait(Recheck(cid, GWBRIDGE_REASON)),
            lambda exc: queue.put_nowait(Inspected("", 0, None, exc)),
        )

    # -- engine calls (run in threads) -----------------------------------------
    def _connect(self) -> Any:
        kwargs = {"base_url": self.url} if self.url else _env_kwargs()
        client = docker.APIClient(version="auto", timeout=API_TIMEOUT, **kwargs)
        client.ping()
        return client

    def _list(self, client: Any) -> tuple[Endpoint, ...]:
        self._gwbridge.load(client)
        found = (self._endpoint(client, c["Id"]) for c in client.containers())
        return tuple(ep for ep in found if ep is not None)

    def _endpoint(self, client: Any, container_id: str) -> Endpoint | None:
        try:
            data = client.inspect_container(container_id)
        except docker.errors.NotFound:
            self._stop_signals.pop(container_id, None)
            return None
        if self._skip_tasks and TASK_LABEL in container_labels(data):
            return None
        self._stop_signals[container_id] = stop_signal_of(data)
        host_ip = self.host_ip or self._bridge_gateway
        gwbridge = self._gwbridge.of(str(data.get("Id") or container_id))
        return endpoint_from_inspect(data, self.source, host_ip, self._overlays, gwbridge)

    def _refresh_networks(self, client: Any) -> None:
        networks = client.networks()
        self._subnets = subnets_of(networks)
        self._overlays = overlays_of(networks)
        self._networks = networks_from_listing(networks)
        self._bridge_gateway = bridge_gateway(networks)
        self._gwbridge.present = has_gwbridge(networks)

    # -- events ---------------------------------------------------------------
    async def _react(self, client: Any, action: EventAction, reason: str) -> Event | None:
        if action.reaction is Reaction.REMOVE:
            self._stop_signals.pop(action.container_id, None)
            return Remove(self.source, action.container_id, reason)
        if action.reaction is Reaction.GONE:
            return Remove(self.source, action.container_id, reason)
        if action.reaction is Reaction.NETWORKS:
            await self._call(lambda: self._refresh_networks(client))
            return Networks(self.source, self._networks)
        return None

    async def _inspect(
        self, client: Any, cid: str, ticket: int, reason: str, queue: asyncio.Queue[_Item]
    ) -> None:
        """Inspect one container (an event asked for it); the outcome goes to `queue`."""
        try:
            endpoint = await self._call(lambda: self._endpoint(client, cid))
        except DockerUnavailable as exc:
            queue.put_nowait(Inspected(cid, ticket, None, exc))
            return
        if endpoint is None:  # the inspect this event asked for found it stopped or gone
            event: Event = Remove(self.source, cid, f"{reason}; not running any more")
        else:
            event = Upsert(endpoint, reason)
        queue.put_nowait(Inspected(cid, ticket, event))

    async def _call(self, fn: Callable[[], T]) -> T:
        """Run a blocking engine call in a daemon thread; wrap engine failures clearly."""
        try:
            return await self._pool.run(fn)
        except DockerUnavailable:
            raise
        except _ENGINE_ERRORS as exc:
            raise DockerUnavailable(
                f"cannot reach the Docker engine at {self.display_url}: {_reason(exc)}; "
                "is dockerd running?"
            ) from exc


# -- helpers ---------------------------------------------------------------------


def _env_kwargs() -> dict[str, Any]:
    """The SDK's reading of DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH."""
    return dict(docker.utils.kwargs_from_env())


def _engine_time_of(info: Json) -> str:
    """The engine's clock in `/info` as 'seconds.nanoseconds', the form `/events?since=` takes."""
    text = str(info["SystemTime"])
    match = _RFC3339.match(text)
    if match is None:
        raise DockerUnavailable(f"the Docker engine reported an unreadable time {text!r}")
    base, frac, zone = match.groups()
    when = datetime.fromisoformat(base + ("+00:00" if zone == "Z" else zone))
    return f"{int(when.timestamp())}.{(frac or '')[1:10].ljust(9, '0')}"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."


def _raise_stream_end(end: StreamEnd, url: str) -> NoReturn:
    if end.error is not None:
        raise DockerUnavailable(
            f"lost the Docker engine at {url}: {_reason(end.error)}; is dockerd running?"
        )
    raise DockerUnavailable(f"the Docker engine at {url} closed its event stream")


def _close_quietly(resource: Any) -> None:
    if resource is None:
        return
    with contextlib.suppress(Exception):  # closing a broken stream can fail; nothing to do
        resource.close()
