"""A load of remote endpoints under way: says when its events are applied, and keeps a big
one out of the garbage collector's way.

A first load (or a reload) allocates a few dozen long-lived objects per remote endpoint
(frozen values, index tuples). Left to itself, the collector's full collections rescan the
whole growing heap again and again while it loads (a third to a half of building 100,000)
and every later full collection rescans it all, stalling the event loop for as long. So once
a load has decoded a slice of values, every object alive is moved out of the collector's view
(`gc.freeze`) after each further slice and after each of the load's events is applied: a full
collection then only scans what came since. The collector stays on, young garbage is
collected as always, and reference counting frees frozen values when the registry drops them
(they are acyclic). The price: cyclic garbage that happens to be alive-but-unreachable in the
oldest generation at a freeze is never collected; loads are rare (start, reconnect,
compaction) and small loads never freeze. `applied` is set once the load's events are all
applied (or it failed). Only the event loop calls it; it must not decide anything about what
is loaded.
"""

from __future__ import annotations

import asyncio
import gc


class BulkLoad:
    """Whether a load is under way and big; while it is, `settled()` freezes what is alive."""

    def __init__(self) -> None:
        self.loading = False
        self._big = False
        self.applied = asyncio.Event()
        self.applied.set()

    def start(self) -> None:
        self.loading, self._big = True, False
        self.applied.clear()

    def grew(self) -> None:
        """Another slice of values decoded: the load is big; what is alive now stays."""
        self._big = True
        gc.freeze()

    def settled(self) -> None:
        """One of the load's events is applied: its snapshot is here to stay."""
        if self.loading and self._big:
            gc.freeze()

    def done(self) -> None:
        """The load's events are applied, or the load failed."""
        self.settled()
        self.loading = False
        self.applied.set()
