"""Per-container order for inspections that run concurrently.

A slow inspect of one container must not hold up the events of another, so the Docker watcher
runs inspections side by side; this keeps their results in order per container. Each inspection
takes a ticket for its container; an outcome applied at once (a `die` or `destroy`, no inspect)
takes one too; a finished inspection's result is applied only when nothing newer about that
container has been applied already (a `die` beats an inspect started before it, and an inspect
that returns late never overrides a later one). State is kept only while a container has an
inspection in flight. Also the two items the watcher's queue carries besides engine events
(an inspection's outcome, a re-check after a kill or a docker_gwbridge change). Pure data: no
I/O, no asyncio.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry import Event


@dataclass
class _Tally:
    issued: int = 0  # the newest ticket given out for the container
    applied: int = 0  # the newest ticket whose outcome was applied
    pending: int = 0  # inspections still in flight


class Tickets:
    """Tickets per container id; see the module docstring."""

    def __init__(self) -> None:
        self._tallies: dict[str, _Tally] = {}

    def __len__(self) -> int:
        """Containers with an inspection in flight."""
        return len(self._tallies)

    def start(self, container_id: str) -> int:
        """An inspection begins: its ticket."""
        tally = self._tallies.setdefault(container_id, _Tally())
        tally.issued += 1
        tally.pending += 1
        return tally.issued

    def now(self, container_id: str) -> None:
        """An outcome is applied at once: inspections started before it become stale."""
        tally = self._tallies.get(container_id)
        if tally is not None:
            tally.issued += 1
            tally.applied = tally.issued

    def finish(self, container_id: str, ticket: int) -> bool:
        """An inspection ended; True when its result is to be applied (nothing newer was)."""
        tally = self._tallies.get(container_id)
        if tally is None:  # not one of ours: apply, there is nothing to compare with
            return True
        tally.pending -= 1
        fresh = ticket > tally.applied
        if fresh:
            tally.applied = ticket
        if tally.pending <= 0:
            del self._tallies[container_id]
        return fresh


@dataclass(frozen=True, slots=True)
class Inspected:
    """An inspection ended with `event` (None: nothing to apply), or failed with `error`."""

    container_id: str
    ticket: int
    event: Event | None
    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class Recheck:
    """Inspect a container again: killed but it may have survived the signal (no `reason`),
    or something it is known by changed (its docker_gwbridge address)."""

    container_id: str
    reason: str = ""
