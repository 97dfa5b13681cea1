"""What the running server knows about itself, for /health, /ready and /metrics.

The composition root fills this in; the HTTP API only reads it. Watcher
details arrive as plain dicts through a callable so that `dnsd` never imports
`watchers`. No I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dnsd.config import Config
from dnsd.ops.metrics import Metrics
from registry import Store


def _no_watchers() -> list[dict[str, object]]:
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
    # Each dict: source, state, last_event (epoch s or None), last_error, synced_once, ...
    watcher_report: Callable[[], list[dict[str, object]]] = _no_watchers
    # Forwarding cache figures: size, hits, misses ...
    forwarder_stats: Callable[[], dict[str, float]] = _no_stats

    def ready(self) -> bool:
        """Listeners bound and every watcher has finished its first full sync."""
        return self.dns_bound and all(w.get("synced_once") for w in self.watcher_report())
