"""Docker event JSON to what the watcher does about it, and the reason it records.

Pure functions over the engine's event JSON (plain dicts): which events the stream asks for,
which reaction an event calls for (inspect again, remove at once, refresh the networks), the
signals that mean a container is going away, and the human reason kept in the change
history. No I/O, no logging, no Docker SDK.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from watchers.docker_translate import Json

CONTAINER_ACTIONS = frozenset(
    {"start", "restart", "die", "stop", "kill", "rename", "pause", "unpause", "update"}
)
NETWORK_MEMBER_ACTIONS = frozenset({"connect", "disconnect"})
NETWORK_SET_ACTIONS = frozenset({"create", "destroy", "remove"})
HEALTH_ACTION = "health_status"
GOING_AWAY_ACTIONS = frozenset({"die", "stop"})
KILL_ACTION = "kill"
STOPPING_SIGNALS = frozenset(
    {signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGQUIT, signal.SIGPWR}
)
"""Signals `docker stop`/`docker kill` use to end a container (its own StopSignal counts too)."""
KILL_RECHECK_SECONDS = 15.0
"""After a stopping signal the container is out at once; if it is still running this much
later (it trapped the signal), an inspect brings it back."""

EVENT_FILTERS: dict[str, list[str]] = {
    "type": ["container", "network"],
    "event": sorted(
        CONTAINER_ACTIONS
        | NETWORK_MEMBER_ACTIONS
        | NETWORK_SET_ACTIONS
        | {"destroy", HEALTH_ACTION}
    ),
}
"""Server-side filter for the event stream (drops exec_* noise from health checks)."""


class Reaction(StrEnum):
    """What the watcher does about one engine event."""

    IGNORE = "ignore"
    REINSPECT = "reinspect"  # inspect the container again: Upsert, or Remove when gone/stopped
    REMOVE = "remove"  # the container no longer exists
    GONE = "gone"  # the container is going away (die, stop): out of rotation now, no inspect
    KILLED = "killed"  # a signal: GONE when it is a stopping signal, else REINSPECT
    NETWORKS = "networks"  # the set of networks changed: refresh subnets


@dataclass(frozen=True, slots=True)
class EventAction:
    reaction: Reaction
    container_id: str = ""
    signal: int | None = None  # KILLED: the signal number, when the event names one


IGNORE = EventAction(Reaction.IGNORE)


def action_for_event(event: Json) -> EventAction:
    """Decide what one decoded event from `/events` asks for."""
    kind = event.get("Type", "")
    action = str(event.get("Action", "")).split(":", 1)[0]
    actor = event.get("Actor") or {}
    if kind == "container":
        cid = str(actor.get("ID") or event.get("id") or "")
        if action == "destroy":
            return EventAction(Reaction.REMOVE, cid)
        if action in GOING_AWAY_ACTIONS:
            return EventAction(Reaction.GONE, cid)
        if action == KILL_ACTION:
            attributes = actor.get("Attributes") or {}
            return EventAction(Reaction.KILLED, cid, signal_number(attributes.get("signal")))
        if action in CONTAINER_ACTIONS or action == HEALTH_ACTION:
            return EventAction(Reaction.REINSPECT, cid)
    elif kind == "network":
        if action in NETWORK_MEMBER_ACTIONS:
            cid = str((actor.get("Attributes") or {}).get("container", ""))
            return EventAction(Reaction.REINSPECT, cid) if cid else IGNORE
        if action in NETWORK_SET_ACTIONS:
            return EventAction(Reaction.NETWORKS)
    return IGNORE


GWBRIDGE_CONTAINER_ACTIONS = frozenset({"start", "restart", "die", "destroy"})


def moves_gwbridge(event: Json) -> bool:
    """Whether an event may add or drop a container's docker_gwbridge address: a container
    starting or ending, any network (dis)connect (joining an overlay attaches docker_gwbridge
    too, and Docker reports no event of its own for that), a network created or removed."""
    kind = event.get("Type", "")
    action = str(event.get("Action", "")).split(":", 1)[0]
    if kind == "container":
        return action in GWBRIDGE_CONTAINER_ACTIONS
    return kind == "network" and action in NETWORK_MEMBER_ACTIONS | NETWORK_SET_ACTIONS


REASON_LIMIT = 200


def describe_event(event: Json) -> str:
    """Why the registry changed, in words: `docker container die (exit code 137) at <time>`.

    Kept in the change history as the event's reason; engine-supplied text is bounded.
    """
    kind = str(event.get("Type", ""))[:20]
    action = str(event.get("Action", ""))[:80]
    attributes = (event.get("Actor") or {}).get("Attributes") or {}
    text = f"docker {kind} {action}"
    if kind == "container" and attributes.get("exitCode") not in (None, ""):
        text += f" (exit code {str(attributes['exitCode'])[:10]})"
    if kind == "network" and attributes.get("name"):
        text += (" from " if action == "disconnect" else " to ") + str(attributes["name"])[:64]
    when = _event_time(event)
    return (text + (f" at {when}" if when else ""))[:REASON_LIMIT]


def _event_time(event: Json) -> str:
    """The engine's event time as UTC ISO 8601 with milliseconds, or ''."""
    nanos = event.get("timeNano")
    seconds = nanos / 1e9 if isinstance(nanos, int) else event.get("time")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool):
        return ""
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def signal_number(value: object) -> int | None:
    """A signal as an event or a container config spells it ('15', 'SIGTERM', 'TERM')."""
    text = str(value or "").strip().upper()
    if text.isdigit():
        return int(text)
    try:
        return int(signal.Signals[text if text.startswith("SIG") else "SIG" + text])
    except KeyError:
        return None


def is_stopping_signal(number: int | None, stop_signal: int | None) -> bool:
    """Does a `kill` with this signal mean the container is going away?"""
    return number is not None and (number in STOPPING_SIGNALS or number == stop_signal)


def stop_signal_of(data: Json) -> int | None:
    """The container's configured StopSignal (what `docker stop` sends), if it sets one."""
    return signal_number((data.get("Config") or {}).get("StopSignal"))


def resync_reason(connections: int) -> str:
    """Why a full listing replaced the source: the first sync, or a reconnect."""
    if connections == 1:
        return "first sync with the Docker engine"
    return "resync after reconnecting to the Docker engine (reconciles missed events)"
