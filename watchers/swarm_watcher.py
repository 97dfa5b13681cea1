"""The Swarm watcher: keeps the registry equal to what a Swarm manager schedules.

Each (re)connect reads `/info`. On an engine that is not a Swarm manager it
says so once, yields an empty `Resync` and re-checks every 30 s (services are
visible only on managers; the Docker watcher keeps serving containers). On a
manager it notes the engine's clock, reads services, tasks, nodes and
networks, inspects the local task containers' health, yields one `Resync`,
and follows the event stream from that moment. The engine has no task
events, so service/node events and local container events trigger re-reads
of `/tasks` paced by `ReadPacer` (10, 20, 40 ms after an event, then every
`FAST_POLL` for `SETTLE` seconds, every 0.5 s while a task is between
states), plus a full re-read (services, nodes, networks too) after a
service/node event and every `SLOW_POLL` seconds for changes on other nodes.
Container events act at once: a task container stopping takes its task out
of rotation, a health change applies. A task container starting also refreshes
the docker_gwbridge addresses (`docker_gwbridge.GatewayBridge`, coalesced): a
task's client-only address, how it is recognised when it asks the host's dnsd.
Each re-read yields only what changed.
Must not touch the store or decide answers. Logs only the worker-node notice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import docker
import docker.errors

from registry import Endpoint, Event, Health, Remove, Resync, Upsert
from watchers.docker_gwbridge import GatewayBridge
from watchers.docker_networks import has_gwbridge
from watchers.docker_threads import StreamEnd, in_daemon_thread, start_pump
from watchers.docker_translate import health_of
from watchers.docker_watcher import (
    _ENGINE_ERRORS,
    API_TIMEOUT,
    DEFAULT_URL,
    DockerUnavailable,
    _close_quietly,
    _engine_time_of,
    _env_kwargs,
    _reason,
)
from watchers.swarm_events import (
    EVENT_FILTERS,
    ReadPacer,
    SwarmAction,
    SwarmReaction,
    swarm_action,
)
from watchers.swarm_translate import (
    TASK_LABEL,
    SwarmState,
    changed,
    endpoints_of,
    in_flux,
    is_manager,
)

log = logging.getLogger(__name__)

FAST_POLL = 0.1
SETTLE = 3.0
SLOW_POLL = 10.0
IDLE_RECHECK = 30.0
GWBRIDGE_MOVED = object()  # queue item: the docker_gwbridge addresses changed
T = TypeVar("T")


class SwarmWatcher:
    """A `Watcher` over one engine's Swarm (`url` as for `DockerWatcher`).

    `required` (from `--swarm on`) makes the not-a-manager notice a warning.
    """

    def __init__(
        self,
        source: str = "swarm",
        url: str | None = None,
        required: bool = False,
        fast_poll: float = FAST_POLL,
        settle: float = SETTLE,
        slow_poll: float = SLOW_POLL,
    ) -> None:
        self.source = source
        self.url = url
        self.required = required
        self.fast_poll = fast_poll
        self.settle = settle
        self.slow_poll = slow_poll
        self.polls = 0
        self._synced = False  # a real resync has happened (before it, auto mode reports nothing)
        self._told_worker = False
        self._health: dict[str, Health] = {}
        self._stopping: dict[str, str] = {}
        self._current: dict[str, Endpoint] = {}
        self._state = SwarmState()
        self._gwbridge = GatewayBridge()

    @property
    def display_url(self) -> str:
        return self.url or str(_env_kwargs().get("base_url") or DEFAULT_URL)

    async def watch(self) -> AsyncIterator[Event]:
        if not self.required and not self._synced:
            yield Resync(self.source, ())  # optional: readiness must not wait for a swarm
        client = await self._call(self._connect)
        stream: Any = None
        try:
            info = await self._call(client.info)
            if not is_manager(info):
                async for event in self._idle(client, info):
                    yield event
            since = _engine_time_of(info)
            self._health, self._stopping = {}, {}
            self._current = await self._call(lambda: self._read(client, first=True, full=True))
            self._synced = True
            yield Resync(self.source, tuple(self._current.values()))
            stream = await self._call(
                lambda: client.events(decode=True, since=since, filters=EVENT_FILTERS)
            )
            async for event in self._follow(client, stream):
                yield event
        finally:
            self._gwbridge.close()
            _close_quietly(stream)
            _close_quietly(client)

    # -- not a manager ---------------------------------------------------------------
    async def _idle(self, client: Any, info: dict[str, Any]) -> AsyncIterator[Event]:
        if not self._told_worker:
            self._told_worker = True
            state = (info.get("Swarm") or {}).get("LocalNodeState") or "inactive"
            log.log(
                logging.WARNING if self.required else logging.INFO,
                "swarm: the engine at %s is not a Swarm manager (swarm state %s); services are "
                "visible only on managers, so dnsd serves containers only",
                self.display_url,
                state,
            )
        yield Resync(self.source, ())
        while not is_manager(info):
            await asyncio.sleep(IDLE_RECHECK)
            info = await self._call(client.info)
        raise DockerUnavailable(f"the engine at {self.display_url} became a Swarm manager")

    # -- following ---------------------------------------------------------------------
    async def _follow(self, client: Any, stream: Iterator[Any]) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Any] = asyncio.Queue()
        start_pump(stream, queue, "dnsd-swarm-events")
        loop = asyncio.get_running_loop()
        pacer = ReadPacer(fast=self.fast_poll, settle=self.settle, slow=self.slow_poll)
        pacer.read(loop.time(), in_flux(self._state))
        last_full, need_full = loop.time(), False
        while True:
            try:
                wait = max(0.0, pacer.due(loop.time()) - loop.time())
                # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
                # that races a short timeout, and the watcher would then never stop
                async with asyncio.timeout(wait):
                    item = await queue.get()
            except TimeoutError:
                item = None
            if isinstance(item, StreamEnd):
                raise DockerUnavailable(
                    f"lost the Docker engine at {self.display_url}"
                    + (f": {_reason(item.error)}" if item.error else ": event stream closed")
                )
            if item is GWBRIDGE_MOVED:
                self._state = replace(self._state, gwbridge=self._gwbridge.all())
                for event in self._changes(endpoints_of(self._state, self.source)):
                    yield event
                continue
            if item is not None:
                action = swarm_action(item)
                if action.reaction is SwarmReaction.IGNORE:
                    continue
                if action.reaction is SwarmReaction.STARTED:
                    self._gwbridge.request(
                        client,
                        self._call,
                        lambda _: queue.put_nowait(GWBRIDGE_MOVED),
                        lambda exc: queue.put_nowait(StreamEnd(exc)),
                    )
                pacer.event(loop.time())
                need_full = need_full or action.reaction is SwarmReaction.RELIST
                for event in await self._react(client, action):
                    yield event
            if loop.time() >= pacer.due(loop.time()):
                full = need_full or loop.time() >= last_full + self.slow_poll
                for event in await self._reread(client, full):
                    yield event
                pacer.read(loop.time(), in_flux(self._state))
                if full:
                    last_full, need_full = loop.time(), False

    async def _react(self, client: Any, action: SwarmAction) -> list[Event]:
        """Apply a first sign (stopping, health) to the last reading at once."""
        if action.reaction is SwarmReaction.STOPPING:
            self._stopping[action.task_id] = action.why
        elif action.reaction is SwarmReaction.HEALTH:
            self._health[action.container_id] = action.health
        elif action.reaction is SwarmReaction.STARTED:
            self._stopping.pop(action.task_id, None)
            health = await self._call(lambda: self._inspect_health(client, action.container_id))
            if health is not None:
                self._health[action.container_id] = health
        else:
            return []
        state = replace(self._state, health=dict(self._health), stopping=dict(self._stopping))
        return self._changes(endpoints_of(state, self.source))

    async def _reread(self, client: Any, full: bool) -> list[Event]:
        return self._changes(await self._call(lambda: self._read(client, first=False, full=full)))

    def _changes(self, new: dict[str, Endpoint]) -> list[Event]:
        upserts, removes = changed(self._current, new)
        self._current = new
        return [*(Upsert(ep) for ep in upserts), *(Remove(self.source, i) for i in removes)]

    # -- engine calls (run in threads) ---------------------------------------------------
    def _connect(self) -> Any:
        kwargs = {"base_url": self.url} if self.url else _env_kwargs()
        client = docker.APIClient(version="auto", timeout=API_TIMEOUT, **kwargs)
        client.ping()
        return client

    def _read(self, client: Any, first: bool, full: bool) -> dict[str, Endpoint]:
        """Read /tasks (and services, nodes, networks if `full`); inspect containers if `first`."""
        self.polls += 1
        tasks = client.tasks()
        if first:
            for container in client.containers(filters={"label": TASK_LABEL}):
                health = self._inspect_health(client, container["Id"])
                if health is not None:
                    self._health[container["Id"]] = health
        live = {str(t.get("ID")) for t in tasks}
        self._stopping = {k: v for k, v in self._stopping.items() if k in live}
        containers = {_container_of(t) for t in tasks}
        self._health = {k: v for k, v in self._health.items() if k in containers}
        state = self._state
        if full:
            state = SwarmState(client.services(), (), client.nodes(), client.networks())
            self._gwbridge.present = has_gwbridge(state.networks)
        if first:
            self._gwbridge.load(client)
        self._state = replace(
            state,
            tasks=tasks,
            health=dict(self._health),
            stopping=dict(self._stopping),
            gwbridge=self._gwbridge.all(),
        )
        return endpoints_of(self._state, self.source)

    def _inspect_health(self, client: Any, container_id: str) -> Health | None:
        try:
            data = client.inspect_container(container_id)
        except docker.errors.NotFound:
            return None
        return health_of(data.get("State") or {})

    async def _call(self, fn: Callable[[], T]) -> T:
        try:
            return await in_daemon_thread(fn)
        except DockerUnavailable:
            raise
        except _ENGINE_ERRORS as exc:
            raise DockerUnavailable(
                f"cannot read the Swarm at {self.display_url}: {_reason(exc)}"
            ) from exc


def _container_of(task: dict[str, Any]) -> str:
    return str(((task.get("Status") or {}).get("ContainerStatus") or {}).get("ContainerID", ""))
