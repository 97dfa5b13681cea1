"""Logging setup (one line per event, text or JSON) and the registry-change log.

`setup_logging(level, fmt)` configures the root logger once at startup;
`log_registry_changes(store)` subscribes to the store and logs each endpoint
that appears, changes or disappears, at info, with name, address, container
and why: at most `LINES_PER_EVENT` lines per event, then one line that counts
the rest (a cluster load adds thousands at once; `/v1/events` lists each). It
must not decide anything about names or answers.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

from registry import Endpoint, Event, Networks, Resync, Snapshot, Store, Unsynced, Upsert, Upserts
from registry.changes import default_reason

log = logging.getLogger("dnsd.registry")
LINES_PER_EVENT = 20  # endpoint lines one registry event logs; the rest are counted in one line

# Attributes every LogRecord has; anything else came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD}


def _one_line(text: str) -> str:
    return text.replace("\r", "").replace("\n", " | ")


class TextFormatter(logging.Formatter):
    """`2024-01-01T00:00:00Z INFO dnsd.x: message key=value`, tracebacks folded onto the line."""

    converter = time.gmtime  # type: ignore[assignment]  # typeshed: gmtime(secs=None)

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ")

    def format(self, record: logging.LogRecord) -> str:
        return _one_line(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, any `extra=` fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        entry.update(_extras(record))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Route every logger to `stream` (stderr) at `level` in format `text` or `json`."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


# -- registry changes --------------------------------------------------------


def _addresses(ep: Endpoint) -> str:
    return ",".join(f"{a.ip}@{a.network}" if a.network else a.ip for a in ep.addresses) or "-"


def _names(ep: Endpoint) -> str:
    return ",".join(f"{c.key}({c.origin.value})" for c in ep.claims) or "-"


def _cause(event: Event) -> str:
    return default_reason(event)  # the event's own reason (e.g. the Docker event) when it has one


def _difference(old: Endpoint, new: Endpoint) -> str:
    changes = []
    if old.health != new.health:
        changes.append(f"health {old.health.value} -> {new.health.value}")
    if old.paused != new.paused:
        changes.append("paused" if new.paused else "unpaused")
    if old.withdrawn != new.withdrawn:
        changes.append(new.withdrawn or f"no longer {old.withdrawn}")
    if old.addresses != new.addresses:
        changes.append(f"addresses {_addresses(old)} -> {_addresses(new)}")
    if old.claims != new.claims:
        changes.append(f"names {_names(old)} -> {_names(new)}")
    if old.ports != new.ports:
        changes.append("ports changed")
    return "; ".join(changes) or "details changed"


def _log_one(action: str, ep: Endpoint, why: str) -> None:
    log.info(
        "%s %s -> %s (container %s, %s/%s) because %s",
        action,
        _names(ep),
        _addresses(ep),
        ep.name,
        ep.source,
        ep.id[:12],
        why,
        extra={
            "action": action,
            "names": [c.key for c in ep.claims],
            "addresses": [a.ip for a in ep.addresses],
            "container": ep.name,
            "container_id": ep.id,
            "source": ep.source,
            "why": why,
        },
    )


def describe_changes(old: Snapshot, new: Snapshot, event: Event) -> None:
    """Log one line per endpoint that was added, removed or changed from `old` to `new`."""
    if isinstance(event, Unsynced | Networks):
        return  # no endpoint changed (the supervisor logs why a source is unsynced)
    cause = _cause(event)
    source = event.endpoint.source if isinstance(event, Upsert) else event.source
    before, after = old.source_endpoints(source), new.source_endpoints(source)  # only it changed
    if isinstance(event, Resync):
        ids: Iterable[str] = dict.fromkeys([*after, *before])
    elif isinstance(event, Upserts):
        ids = [ep.id for ep in event.endpoints]
    else:
        ids = (event.endpoint.id if isinstance(event, Upsert) else event.id,)
    more = {"added": 0, "changed": 0, "removed": 0}
    lines = 0
    for id_ in ids:
        previous, ep = before.get(id_), after.get(id_)
        if ep is previous or ep == previous:  # unchanged (or absent from both)
            continue
        action = "added" if previous is None else "removed" if ep is None else "changed"
        if lines == LINES_PER_EVENT:
            more[action] += 1
            continue
        lines += 1
        if ep is None:
            why = cause if not isinstance(event, Resync) else f"{cause}: gone from the source"
            _log_one(action, previous, why)  # type: ignore[arg-type]
        elif previous is None:
            _log_one(action, ep, cause)
        else:
            _log_one(action, ep, f"{cause}: {_difference(previous, ep)}")
    if any(more.values()):
        _log_more(more, source, cause)


def _log_more(counts: dict[str, int], source: str, cause: str) -> None:
    counted = ", ".join(f"{n} {action}" for action, n in counts.items() if n)
    log.info(
        "and %d more endpoints of %s (%s) because %s: GET /v1/events lists each",
        sum(counts.values()),
        source,
        counted,
        cause,
        extra={"action": "more", "source": source, "counts": counts, "why": cause},
    )


def log_registry_changes(store: Store) -> Callable[[], None]:
    """Subscribe to `store` and log every change at info; returns the unsubscribe function."""
    last = [store.snapshot]

    def listener(snapshot: Snapshot, event: Event) -> None:
        try:
            if log.isEnabledFor(logging.INFO):
                describe_changes(last[0], snapshot, event)
        except Exception:  # a log line must never break the store
            log.exception("could not log a registry change")
        last[0] = snapshot

    return store.subscribe(listener)
