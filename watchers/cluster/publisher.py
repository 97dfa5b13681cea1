"""What this node should have in etcd, kept in step with the local registry.

A store subscription turns every change of a published local source into desired keys and
values (`Publisher.on_change`, synchronous and cheap); `flush` writes the keys that changed
since the last write, and `republish` reconciles everything under the node's prefix with
what is desired (after a connect or a new lease). Owns no connection and no task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from registry import Endpoint, Event, Remove, Resync, Snapshot, Upsert, Upserts
from watchers.cluster.codec import encode, endpoint_key, node_prefix
from watchers.cluster.etcd import Etcd


def publishes(source: str, kinds: Iterable[str]) -> bool:
    """Whether a local source is published: kinds are `docker`, `file`, `api`."""
    kind = source.partition(":")[0]
    return kind in set(kinds)


class Publisher:
    """Desired keys of this node, the keys written under the current lease, and the gap."""

    def __init__(self, zone: str, node: str, advertise_ip: str, kinds: Iterable[str]) -> None:
        self.zone, self.node, self.advertise_ip = zone, node, advertise_ip
        self.kinds = tuple(kinds)
        self.desired: dict[str, bytes] = {}
        self.written: dict[str, bytes] = {}
        self.dirty: set[str] = set()
        self.wake = asyncio.Event()
        self.writes = 0
        self.transactions = 0

    def on_change(self, snapshot: Snapshot, event: Event) -> None:
        """Store listener: note what the event changed among published endpoints."""
        source = event.endpoint.source if isinstance(event, Upsert) else event.source
        if not publishes(source, self.kinds):
            return
        if isinstance(event, Upsert):
            self._set(event.endpoint)
        elif isinstance(event, Remove):
            self._drop(self._key(source, event.id))
        elif isinstance(event, Resync):
            self._resync(snapshot, event)
        elif isinstance(event, Upserts):
            for ep in event.endpoints:
                self._set(ep)
        if self.dirty:
            self.wake.set()

    def load(self, snapshot: Snapshot) -> None:
        """Take every published endpoint the registry holds now (at start)."""
        for source in snapshot.sources():
            if publishes(source, self.kinds):
                for ep in snapshot.source_endpoints(source).values():
                    self._set(ep)

    def _key(self, source: str, id_: str) -> str:
        return endpoint_key(self.zone, self.node, source, id_)

    def _set(self, ep: Endpoint) -> None:
        key = endpoint_key(self.zone, self.node, ep.source, ep.id)
        value = encode(ep, self.advertise_ip)
        if self.desired.get(key) != value:
            self.desired[key] = value
            self.dirty.add(key)

    def _drop(self, key: str) -> None:
        if self.desired.pop(key, None) is not None:
            self.dirty.add(key)

    def _resync(self, snapshot: Snapshot, event: Resync) -> None:
        head = self._key(event.source, "")
        keep = {endpoint_key(self.zone, self.node, ep.source, ep.id) for ep in event.endpoints}
        for key in [k for k in self.desired if k.startswith(head) and k not in keep]:
            self._drop(key)
        for ep in snapshot.source_endpoints(event.source).values():
            self._set(ep)

    async def flush(self, etcd: Etcd, lease: int) -> None:
        """Write the keys changed since the last write (one transaction when they fit)."""
        keys, self.dirty = self.dirty, set()
        puts = [
            (k, self.desired[k])
            for k in sorted(keys)
            if k in self.desired and self.written.get(k) != self.desired[k]
        ]
        deletes = [k for k in sorted(keys) if k not in self.desired and k in self.written]
        try:
            await self._write(etcd, puts, deletes, lease)
        except BaseException:
            self.dirty |= keys
            raise

    async def republish(self, etcd: Etcd, lease: int) -> None:
        """Make the node's prefix equal to what is desired, every key on `lease`."""
        self.dirty.clear()
        target = dict(self.desired)  # changes arriving meanwhile stay dirty for `flush`
        _, present = await etcd.range(node_prefix(self.zone, self.node))
        there = {key: (value, owner) for key, value, owner in present}
        puts = [(k, v) for k, v in sorted(target.items()) if there.get(k) != (v, lease)]
        deletes = [k for k in sorted(there) if k not in target]
        self.written = {}
        await self._write(etcd, puts, deletes, lease)
        self.written = target

    async def _write(
        self, etcd: Etcd, puts: list[tuple[str, bytes]], deletes: list[str], lease: int
    ) -> None:
        if not puts and not deletes:
            return
        self.transactions += await etcd.write(puts, deletes, lease)
        self.writes += len(puts) + len(deletes)
        for key, value in puts:
            self.written[key] = value
        for key in deletes:
            self.written.pop(key, None)
