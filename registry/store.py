"""The store: holds the newest snapshot and tells subscribers when it changes.

Only the event loop calls `apply`, so there are no locks. Subscribers are
plain callbacks (the DNS hot path uses one to drop its encoded-reply cache);
async waiters can wrap them. Each change is stamped with the wall-clock second
(`Snapshot.changed_at`, which never goes back, so it can serve as a zone serial
that grows across restarts without being stored). No I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from registry.events import Event
from registry.snapshot import Snapshot

Listener = Callable[[Snapshot, Event], None]


class Store:
    """A mutable cell holding the current immutable `Snapshot`."""

    def __init__(
        self,
        snapshot: Snapshot | None = None,
        *,
        pending: Iterable[str] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`pending`: the sources that must sync (`Resync`) before names they could own
        count as absent; `clock` stamps every change (seconds, like `time.time`)."""
        self._clock = clock
        self.snapshot = snapshot or Snapshot(pending=pending, changed_at=int(clock()))
        self.events_applied = 0
        self._listeners: list[Listener] = []

    def apply(self, event: Event) -> Snapshot:
        """Apply `event`, swap in the new snapshot, notify listeners, and return it."""
        new = self.snapshot.apply(event, int(self._clock()))
        self.events_applied += 1
        if new is not self.snapshot:
            self.snapshot = new
            for listener in tuple(self._listeners):
                listener(new, event)
        return new

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener(snapshot, event)` after each change; returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)
