"""The garbage collector around a bulk load of remote endpoints: paused while it runs, and
what it built moved out of the collector's way once it is applied.

A first load (or a reload) allocates a few dozen long-lived objects per remote endpoint
(frozen values, index tuples). With the collector on, the growing heap triggers full
collections again and again while it loads (about a fifth of the load time at 100,000
endpoints), and every later full collection rescans it all, stalling the event loop for
as long. So `start()` pauses the collector (if it was on); `applied()`, once the load's
events are in the registry, runs one collection of the young generations (the cyclic garbage made
meanwhile is freed, not kept) and freezes what survives (`gc.freeze`: the registry's
values are acyclic, reference counting still frees them when they are replaced), then
turns the collector back on. Only the event loop calls it. It must not decide anything
about what is loaded.
"""

from __future__ import annotations

import gc


class BulkLoad:
    """Pauses the cyclic garbage collector for one load; idempotent and safe to nest."""

    def __init__(self) -> None:
        self._paused = False

    def start(self) -> None:
        if not self._paused and gc.isenabled():
            gc.disable()
            self._paused = True

    def applied(self) -> None:
        """The load's events are applied (or the load failed): collect, freeze, resume."""
        if self._paused:
            self._paused = False
            gc.collect(1)
            gc.freeze()
            gc.enable()
