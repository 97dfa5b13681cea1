"""The registry: which names exist and which endpoints stand behind them.

Pure data, no I/O, no logging. Sources (the Docker watcher, the records file,
the HTTP API) describe what they own as `Endpoint` values and send events;
`Snapshot.apply(event)` returns a new immutable snapshot; `Store` holds the
newest one and tells subscribers when it changes.
"""

from registry.changes import Change, ChangeKind
from registry.events import Event, Networks, Remove, Resync, Unsynced, Upsert, Upserts
from registry.history import History
from registry.keys import SrvRecord
from registry.model import Address, Endpoint, Health, NameClaim, Network, Origin, Port, Scope
from registry.names import name_key
from registry.resolution import Resolution, UnhealthyPolicy, in_rotation
from registry.snapshot import Snapshot
from registry.store import Store
from registry.view import FULL_VIEW, ClientView, Recognised, Recognition

__all__ = [
    "FULL_VIEW",
    "Address",
    "Change",
    "ChangeKind",
    "ClientView",
    "Endpoint",
    "Event",
    "Health",
    "History",
    "NameClaim",
    "Network",
    "Networks",
    "Origin",
    "Port",
    "Recognised",
    "Recognition",
    "Remove",
    "Resolution",
    "Resync",
    "Scope",
    "Snapshot",
    "SrvRecord",
    "Store",
    "UnhealthyPolicy",
    "Unsynced",
    "Upsert",
    "Upserts",
    "in_rotation",
    "name_key",
]
