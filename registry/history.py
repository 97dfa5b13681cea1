"""The change history: the last N change records, numbered, and queries over them.

`History.record(old, new, event, at)` turns one applied event into change
records (see `registry.changes`), numbers them with a sequence that only
grows, and keeps the newest `size` of them. `query` filters by name, time and
sequence. Pure data: no I/O, no clock, no asyncio; the caller passes the time
and does any fan-out.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from registry.changes import Change, aspects, records
from registry.events import Event
from registry.snapshot import Snapshot, UnhealthyPolicy

NameMatch = Callable[[str], bool]


class History:
    """A bounded, numbered log of `Change` records (oldest dropped first)."""

    def __init__(self, size: int = 1000, policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL):
        if size < 0:
            raise ValueError("history size must be 0 or more")
        self.size = size
        self.policy = policy
        self.last_seq = 0
        self._records: deque[Change] = deque(maxlen=size)

    def record(
        self, old: Snapshot, new: Snapshot, event: Event, at: float, *, every: bool = True
    ) -> tuple[Change, ...]:
        """Derive, number and keep the changes `event` made; returns them (numbered). With
        `every` False (nobody follows the changes) only the records the history keeps are
        made: the others are numbered and dropped unmade (a big resync's older records)."""
        found = aspects(old, new, event)
        made = found if every else found[len(found) - min(self.size, len(found)) :]
        first = self.last_seq + 1 + len(found) - len(made)
        numbered = records(made, new, event, at, self.policy, first_seq=first)
        self.last_seq += len(found)
        self._records.extend(numbered)
        return numbered

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
            for change in self._records
            if change.seq > after_seq
            and (since is None or change.time >= since)
            and (until is None or change.time <= until)
            and (name is None or name(change.name))
        ]
        return found[-limit:] if limit is not None and limit < len(found) else found
