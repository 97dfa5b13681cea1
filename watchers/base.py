"""The watcher contract and the supervisor that keeps a watcher running.

A watcher's `watch()` yields registry events forever; its first event after
each (re)connect should be a `Resync` of everything its source owns. The
supervisor applies events through one callback, restarts a failed watcher
with capped exponential backoff, and reports its state for /health. A watcher
that also has a cheap `probe()` is probed a few times a second while backing
off, and restarted as soon as its source answers again after having been
down, so a long outage does not leave stale answers for a whole backoff
period. When a watcher has been down for `unsynced_after` seconds without a
new `Resync`, it applies `Unsynced(source)`, so names the source might own
stop being denied. It logs one summary line when a (re)connection has synced
(`docker: connected to URL, 27 containers, 41 names, 120 ms`). Logs only here,
at the edge.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from registry import Event, Resync, Unsynced

log = logging.getLogger(__name__)


class Watcher(Protocol):
    """A source of registry events. `source` tags every endpoint it produces."""

    source: str

    def watch(self) -> AsyncIterator[Event]: ...


PROBE_INTERVAL = 0.25  # seconds between probes while backing off
PROBE_TIMEOUT = 1.0


class WatcherState(StrEnum):
    STARTING = "starting"
    RESYNCING = "resyncing"
    CONNECTED = "connected"
    BACKING_OFF = "backing-off"
    STOPPED = "stopped"


@dataclass
class WatcherStatus:
    """What /health shows about one watcher."""

    source: str
    state: WatcherState = WatcherState.STARTING
    last_event: float | None = None
    last_error: str = ""
    resyncs: int = 0
    reconnects: int = 0
    events: int = 0
    synced_once: bool = False


class Supervisor:
    """Runs one watcher forever, applying its events, restarting it after failures."""

    def __init__(
        self,
        watcher: Watcher,
        apply: Callable[[Event], object],
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        probe_interval: float = PROBE_INTERVAL,
        unsynced_after: float = 1.0,
    ) -> None:
        self.watcher = watcher
        self.status = WatcherStatus(source=watcher.source)
        self._apply = apply
        self._min_backoff = min_backoff
        self._max_backoff = max_backoff
        self._probe_interval = probe_interval
        self._unsynced_after = unsynced_after
        self._unsynced: asyncio.TimerHandle | None = None
        self.synced = asyncio.Event()

    async def run(self) -> None:
        """Run until cancelled."""
        backoff = self._min_backoff
        try:
            while True:
                self.status.state = WatcherState.RESYNCING
                started: float | None = time.monotonic()
                try:
                    async for event in self.watcher.watch():
                        self._handle(event)
                        if started is not None and isinstance(event, Resync):
                            self._log_synced(event, time.monotonic() - started)
                            started = None
                        backoff = self._min_backoff
                    raise ConnectionError("event stream ended")
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # one catch-all per shell
                    self._failed(exc, backoff)
                await self._pause(backoff)
                backoff = min(backoff * 2, self._max_backoff)
                self.status.reconnects += 1
        finally:
            self.status.state = WatcherState.STOPPED
            self._cancel_unsynced()

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less: until the source answers a probe after failing one."""
        probe: Callable[[], Awaitable[bool]] | None = getattr(self.watcher, "probe", None)
        if probe is None:
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        seen_down = False
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(self._probe_interval, left))
            up = await _answers(probe)
            if up and seen_down:
                log.info(
                    "%s watcher: the source answers again; reconnecting now", self.status.source
                )
                return
            seen_down = seen_down or not up

    def _handle(self, event: Event) -> None:
        self._apply(event)
        self.status.events += 1
        self.status.last_event = time.time()
        if isinstance(event, Resync):
            self._cancel_unsynced()
            self.status.resyncs += 1
            self.status.synced_once = True
            self.status.state = WatcherState.CONNECTED
            self.synced.set()

    def _log_synced(self, event: Resync, seconds: float) -> None:
        """One line per (re)connection: where from, how many endpoints and names, how long."""
        where = getattr(self.watcher, "where", "") or self.watcher.source
        unit = getattr(self.watcher, "unit", "endpoints")
        names = {claim.key for endpoint in event.endpoints for claim in endpoint.claims}
        log.info(
            "%s: connected to %s, %d %s, %d names, %.0f ms",
            self.watcher.source,
            where,
            len(event.endpoints),
            unit,
            len(names),
            seconds * 1000,
        )

    def _failed(self, exc: Exception, backoff: float) -> None:
        if self._unsynced is None:
            self._unsynced = asyncio.get_running_loop().call_later(
                self._unsynced_after, self._mark_unsynced
            )
        self.status.state = WatcherState.BACKING_OFF
        self.status.last_error = str(exc) or type(exc).__name__
        log.warning(
            "%s watcher: %s; answers keep coming from the last known state; retrying in %.1fs "
            "(sooner if it answers a probe)",
            self.watcher.source,
            self.status.last_error,
            backoff,
        )

    def _mark_unsynced(self) -> None:
        self._unsynced = None
        log.warning(
            "%s watcher: no resync for %.1fs; names it could own that are not known get "
            "SERVFAIL, not NXDOMAIN, until it resyncs",
            self.watcher.source,
            self._unsynced_after,
        )
        self._apply(Unsynced(self.watcher.source))

    def _cancel_unsynced(self) -> None:
        if self._unsynced is not None:
            self._unsynced.cancel()
            self._unsynced = None


async def _answers(probe: Callable[[], Awaitable[bool]]) -> bool:
    try:
        async with asyncio.timeout(PROBE_TIMEOUT):
            return bool(await probe())
    except Exception:  # a failing probe just means "not yet"
        return False
