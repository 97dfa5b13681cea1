"""What one engine event means to the Swarm watcher.

Pure: a decoded `/events` item in, a `SwarmAction` out. Service and node
events ask for a re-read of the manager's listings; a task container's
`kill`/`stop`/`die` is the first sign that the task is going away (it leaves
rotation at once, before the manager's task list says so); `health_status`
carries the container's new health. `ReadPacer` decides when the next re-read
is due: right after an event and then 10, 20, 40 ms later (the manager
updates tasks a few ms after the event), every `fast` seconds for `settle`
seconds after an event, every
`flux` seconds while some task is between states (for up to `patience`
seconds after the last event), and every `slow` seconds otherwise. No I/O,
no logging, no clock of its own: callers pass the time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from registry import Health
from watchers.swarm_translate import TASK_LABEL

Json = Mapping[str, Any]

STOP_SIGNALS = frozenset({"2", "3", "9", "15"})  # INT, QUIT, KILL, TERM: the task is ending
CONTAINER_ACTIONS = frozenset({"start", "kill", "stop", "die", "destroy", "health_status"})
SWARM_ACTIONS = frozenset({"create", "update", "remove"})

EVENT_FILTERS: dict[str, list[str]] = {
    "type": ["service", "node", "container"],
    "event": sorted(CONTAINER_ACTIONS | SWARM_ACTIONS),
}
"""Server-side filter for the event stream (drops the health checks' exec_* noise)."""


class SwarmReaction(StrEnum):
    IGNORE = "ignore"
    RELIST = "relist"  # read services, tasks and nodes again
    STOPPING = "stopping"  # take the task out of rotation now, then re-read
    HEALTH = "health"  # the task container's health changed
    STARTED = "started"  # a task container started: inspect its health, then re-read


@dataclass(frozen=True, slots=True)
class SwarmAction:
    reaction: SwarmReaction
    task_id: str = ""
    container_id: str = ""
    health: Health = Health.NONE
    why: str = ""


IGNORE = SwarmAction(SwarmReaction.IGNORE)
RELIST = SwarmAction(SwarmReaction.RELIST)


def swarm_action(event: Json) -> SwarmAction:
    """Decide what one decoded engine event asks of the Swarm watcher."""
    kind = event.get("Type", "")
    action, _, detail = str(event.get("Action", "")).partition(":")
    if kind in ("service", "node"):
        return RELIST if action in SWARM_ACTIONS else IGNORE
    if kind != "container":
        return IGNORE
    actor = event.get("Actor") or {}
    attributes = actor.get("Attributes") or {}
    task_id = str(attributes.get(TASK_LABEL, ""))
    container_id = str(actor.get("ID") or event.get("id") or "")
    if not task_id:
        return IGNORE
    if action == "health_status":
        return SwarmAction(SwarmReaction.HEALTH, task_id, container_id, _health(detail))
    if action in ("stop", "die") or (
        action == "kill" and str(attributes.get("signal", "")) in STOP_SIGNALS
    ):
        return SwarmAction(SwarmReaction.STOPPING, task_id, container_id, why=f"container {action}")
    if action == "start":
        return SwarmAction(SwarmReaction.STARTED, task_id, container_id)
    if action == "destroy":
        return RELIST
    return IGNORE


def _health(text: str) -> Health:
    try:
        return Health(text.strip().lower())
    except ValueError:
        return Health.NONE


@dataclass
class ReadPacer:
    """When to re-read the manager's listings; times are the caller's monotonic clock."""

    fast: float = 0.1
    first: float = 0.01
    settle: float = 3.0
    slow: float = 10.0
    flux: float = 0.5
    patience: float = 60.0
    last_read: float = 0.0
    last_event: float = -math.inf
    in_flux: bool = False
    reads_since_event: int = 0

    def due(self, now: float) -> float:
        """The time the next re-read is due (may be in the past: read now)."""
        due = self.last_read + self.slow
        if now < self.last_event + self.settle or self.last_event > self.last_read:
            step = min(self.fast, self.first * 2 ** min(self.reads_since_event, 10))
            due = min(due, self.last_read + step)
        if self.in_flux and now < self.last_event + self.patience:
            due = min(due, self.last_read + self.flux)
        return due

    def event(self, now: float) -> None:
        self.last_event = now
        self.reads_since_event = 0

    def read(self, now: float, in_flux: bool) -> None:
        self.last_read = now
        self.in_flux = in_flux
        self.reads_since_event += 1
