"""Each container's docker_gwbridge address, kept fresh at one network inspect per change burst.

A Swarm container that sends DNS to the host's dnsd leaves through docker_gwbridge, so its
queries come from an address its own inspect does not list; only `docker network inspect
docker_gwbridge` says whose it is. The Docker and Swarm watchers read it at each resync
(`load`) and ask for a refresh when an event may move it (`request`): one inspect runs at a
time, and requests that arrive meanwhile are served by one more inspect after it (a burst costs
at most two). The containers whose address changed are handed back (the Docker watcher inspects
them again, the Swarm watcher rebuilds its tasks), so their endpoint carries the new address.
On a host without docker_gwbridge nothing is ever inspected. It must not build endpoints or
decide answers; engine calls go through the caller's runner.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import docker.errors

from watchers.docker_networks import gwbridge_addresses
from watchers.docker_translate import GWBRIDGE_NETWORK

Addresses = dict[str, tuple[str, ...]]
Runner = Callable[[Callable[[], Addresses]], Awaitable[Addresses]]


class GatewayBridge:
    """Container id -> its docker_gwbridge addresses, as of the last inspect."""

    def __init__(self) -> None:
        self.present = False  # docker_gwbridge exists (set from each network listing)
        self.inspections = 0  # network inspects done (tests read it to check the bound)
        self._addresses: Addresses = {}
        self._task: asyncio.Task[None] | None = None
        self._again = False

    def of(self, container_id: str) -> tuple[str, ...]:
        return self._addresses.get(container_id, ())

    def all(self) -> Mapping[str, tuple[str, ...]]:
        """Every container's addresses (replaced, never changed, by a refresh)."""
        return self._addresses

    def load(self, client: Any) -> None:
        """Read the map now (blocking: call it in an engine thread, at a resync)."""
        self._addresses = self._read(client)

    def request(
        self,
        client: Any,
        run: Runner,
        changed: Callable[[str], None],
        failed: Callable[[Exception], None],
    ) -> None:
        """Refresh soon; `changed(id)` for each container whose address moved, `failed(exc)`
        if the engine call fails. Coalesces with a refresh already running."""
        if not self.present:
            return
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = asyncio.create_task(self._refresh(client, run, changed, failed))

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _refresh(
        self,
        client: Any,
        run: Runner,
        changed: Callable[[str], None],
        failed: Callable[[Exception], None],
    ) -> None:
        self._again = True
        while self._again:
            self._again = False
            try:
                new = await run(lambda: self._read(client))
            except Exception as exc:  # handed to the watcher, which ends with it
                failed(exc)
                return
            old, self._addresses = self._addresses, new
            for cid in sorted(old.keys() | new.keys()):
                if old.get(cid) != new.get(cid):
                    changed(cid)

    def _read(self, client: Any) -> Addresses:
        if not self.present:
            return {}
        self.inspections += 1
        with contextlib.suppress(docker.errors.NotFound):  # gone since the listing
            return gwbridge_addresses(client.inspect_network(GWBRIDGE_NETWORK))
        return {}
