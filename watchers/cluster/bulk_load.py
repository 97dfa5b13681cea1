"""Keeps a bulk load of remote endpoints out of the garbage collector's way.

A first load (or a reload) allocates a few dozen long-lived objects per remote endpoint
(frozen values, index tuples). Left to itself, the collector's full collections rescan the
whole growing heap again and again while it loads (about a fifth of the load time at
100,000 endpoints) and every later full collection rescans it all, stalling the event loop
for as long. `settled()` moves every object alive now out of the collector's view
(`gc.freeze`): called while values are decoded and after each of the load's events is
applied, so a full collection only ever scans what came since. The collector stays on:
young garbage is collected as always, and reference counting frees frozen values when the
registry drops them (its values are acyclic). Only the event loop calls it; it must not
decide anything about what is loaded.
"""

from __future__ import annotations

import gc


class BulkLoad:
    """Whether a load is under way; while it is, `settled()` freezes what is alive."""

    def __init__(self) -> None:
        self.loading = False

    def start(self) -> None:
        self.loading = True

    def settled(self) -> None:
        """What is alive now (decoded values, an applied event's snapshot) is here to stay."""
        if self.loading:
            gc.freeze()

    def done(self) -> None:
        """The load's events are applied, or the load failed."""
        self.settled()
        self.loading = False
