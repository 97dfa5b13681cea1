"""The registry: which names exist and which endpoints stand behind them.

Pure data, no I/O, no logging. Sources (the Docker watcher, the records file,
the HTTP API) describe what they own as `Endpoint` values and send events;
`Snapshot.apply(event)` returns a new immutable snapshot; `Store` holds the
newest one and tells subscribers when it changes.
"""

from registry.events import Event, Remove, Resync, Upsert
from registry.model import Address, Endpoint, Health, NameClaim, Origin, Port
from registry.names import name_key
from registry.snapshot import Resolution, Snapshot, SrvRecord, UnhealthyPolicy, in_rotation
from registry.store import Store

__all__ = [
    "Address",
    "Endpoint",
    "Event",
    "Health",
    "NameClaim",
    "Origin",
    "Port",
    "Remove",
    "Resolution",
    "Resync",
    "Snapshot",
    "SrvRecord",
    "Store",
    "UnhealthyPolicy",
    "Upsert",
    "in_rotation",
    "name_key",
]
