"""What the running server knows about itself, for /health, /ready and /metrics.

The composition root fills this in; the HTTP API and the Prometheus rendering only read it.
Watcher details arrive as typed `WatcherReport` values through a callable, so that `dnsd`
never imports `watchers`. No I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from registry import Store

CONNECTED = "connected"


@dataclass(frozen=True, slots=True)
class WatcherReport:
    """One watcher as /health shows it (the composition root copies its supervisor's status)."""

    source: str
    state: str  # starting, resyncing, connected, backing-off, stopped
    last_event: float | None = None  # epoch seconds
    last_error: str = ""
    synced_once: bool = False
    events: int = 0
    resyncs: int = 0
    reconnects: int = 0


def _no_watchers() -> list[WatcherReport]:
    return []


def _no_stats() -> dict[str, float]:
    return {}


@dataclass
class ServerState:
    """Shared, read-mostly facts about the process."""

    config: Config
    store: Store
    metrics: Metrics
    started: float = field(default_factory=time.time)
    listeners: list[str] = field(default_factory=list)
    dns_bound: bool = False
    watcher_report: Callable[[], list[WatcherReport]] = _no_watchers
    # The source whose events count as Docker events in /metrics (None: no Docker watcher).
    docker_source: str | None = None
    # Forwarding cache figures: size, hits, misses ...
    forwarder_stats: Callable[[], dict[str, float]] = _no_stats

    def ready(self) -> bool:
        """Listeners bound and every watcher has finished its first full sync."""
        return self.dns_bound and all(w.synced_once for w in self.watcher_report())
