"""The change history: the last N change records, numbered, and queries over them.

`History.record(old, new, event, at)` turns one applied event into change
records (see `registry.changes`), numbers them with a sequence that only
grows, and keeps the newest `size` of them. `History.note` does the same when
nobody follows the changes, lazily: it numbers the records at once and keeps
the endpoints that claimed each kept record's name, but derives what the name
answered only when the history is read (most records of a load or of churn are
dropped before anyone reads them); reading gives exactly what `record` would
have kept. `query` filters by name, time and sequence. Pure data: no I/O, no
clock, no asyncio; the caller passes the time and does any fan-out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from registry.changes import Change, Unmade, aspects, counted_aspects, made, unmade
from registry.events import Event
from registry.resolution import UnhealthyPolicy
from registry.snapshot import Snapshot

NameMatch = Callable[[str], bool]


class History:
    """A bounded, numbered log of `Change` records (oldest dropped first)."""

    def __init__(self, size: int = 1000, policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL):
        if size < 0:
            raise ValueError("history size must be 0 or more")
        self.size = size
        self.policy = policy
        self.last_seq = 0
        self._records: deque[Change | Unmade] = deque(maxlen=size)
        self._unmade = False  # some kept record is not made yet

    def record(
        self, old: Snapshot, new: Snapshot, event: Event, at: float, *, every: bool = True
    ) -> tuple[Change, ...]:
        """Derive, number and keep the changes `event` made; returns them (numbered). With
        `every` False only the records the history keeps are made: the others are numbered
        and dropped unmade (a big resync's older records)."""
        if every:
            found = aspects(old, new, event)
            total, kept = len(found), found
        else:
            total, kept = counted_aspects(old, new, event, self.size)
        first = self.last_seq + 1 + total - len(kept)
        numbered = made(unmade(kept, new, event, at, first), self.policy)
        self.last_seq += total
        self._records.extend(numbered)
        return tuple(numbered)

    def note(self, old: Snapshot, new: Snapshot, event: Event, at: float) -> None:
        """`record` for nobody following: the changes are numbered now, and the kept ones
        are made (with what their names answered in `new`) when the history is read."""
        total, kept = counted_aspects(old, new, event, self.size)
        first = self.last_seq + 1 + total - len(kept)
        self.last_seq += total
        if kept:
            self._records.extend(unmade(kept, new, event, at, first))
            self._unmade = True

    def _made(self) -> list[Change]:
        """Every kept record, made (once: they are kept made)."""
        records = made(self._records, self.policy)
        if self._unmade:
            self._records = deque(records, maxlen=self.size)
            self._unmade = False
        return records

    @property
    def first_seq(self) -> int:
        """The oldest sequence number still kept (last_seq + 1 when empty)."""
        return self._records[0].seq if self._records else self.last_seq + 1

    def __len__(self) -> int:
        return len(self._records)

    def query(
        self,
        name: NameMatch | None = None,
        since: float | None = None,
        until: float | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[Change]:
        """Kept records, oldest first, matching every filter given; the newest `limit` of them."""
        found = [
            change
            for change in self._made()
            if change.seq > after_seq
            and (since is None or change.time >= since)
            and (until is None or change.time <= until)
            and (name is None or name(change.name))
        ]
        return found[-limit:] if limit is not None and limit < len(found) else found
