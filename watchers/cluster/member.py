"""A cluster member: publishes this node's endpoints to etcd and follows every other node's.

`watch()` yields registry events for the sources `cluster:<node>`: per session one
consistent load (a range read at one revision, a `Resync` per node) and then a watch
from the next revision; a compacted revision reloads. Alongside, one lease per node is
kept alive every TTL/3 and the `Publisher` writes local changes. Any failure ends the
session: the member retries the next etcd endpoint with a short capped backoff, keeps
the remote names it knew for `keep_remote` seconds, then forgets them. Own keys are
ignored; bad values are skipped with a warning naming the key. Logs only here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from registry import Endpoint, Event, Remove, Resync, Store, Upsert, Upserts
from watchers.cluster.bulk_load import BulkLoad
from watchers.cluster.codec import BadValue, cluster_source, decode, prefix, split_key, stamp
from watchers.cluster.etcd import Change, Compacted, Etcd, EtcdSettings
from watchers.cluster.publisher import Publisher

log = logging.getLogger(__name__)

MIN_BACKOFF, MAX_BACKOFF = 0.05, 0.5
DECODE_SLICE = 256  # values decoded between two turns of the event loop
RESYNC_GAP = 0.005  # seconds between two of a load's events (a gRPC reply needs a few turns)
RESYNC_SLICE = 2000  # a node's endpoints applied at most this many per event (DNS waits meanwhile)


@dataclass(frozen=True)
class ClusterSettings:
    etcd: EtcdSettings
    zone: str
    node: str
    advertise_ip: str
    lease_ttl: int = 10
    keep_remote: float = 300.0
    publish: tuple[str, ...] = ("docker",)


class ClusterMember:
    """A `Watcher` (source `cluster`) that is also this node's publisher."""

    source = "cluster"

    def __init__(self, settings: ClusterSettings) -> None:
        self.settings = settings
        self.publisher = Publisher(
            settings.zone, settings.node, settings.advertise_ip, settings.publish
        )
        self.state = "connecting"
        self.url = ""
        self.lease = 0
        self.lease_granted = 0.0
        self.revision = 0
        self.cluster_revision = 0
        self.reloads = 0
        self.rejected = 0
        self.last_error = ""
        self.disconnected_since: float | None = time.monotonic()
        self.nodes: dict[str, set[str]] = {}
        self._etcd: Etcd | None = None
        self._attempt = 0
        self._bulk = BulkLoad()
        self.loaded = asyncio.Event()  # set once the first load is applied

    # -- wiring ------------------------------------------------------------------------
    def attach(self, store: Store) -> Callable[[Event], object]:
        """Publish the store's local endpoints; returns the `apply` local watchers use."""
        self.publisher.load(store.snapshot)
        store.subscribe(self.publisher.on_change)
        return lambda event: store.apply(stamp(event, self.settings.node))

    def report(self) -> dict[str, object]:
        """What /health and /metrics show."""
        now = time.monotonic()
        etcd = self._etcd
        cluster_revision = max(self.cluster_revision, etcd.cluster_revision if etcd else 0)
        return {
            "node": self.settings.node,
            "advertise_ip": self.settings.advertise_ip,
            "etcd_endpoints": list(self.settings.etcd.endpoints),
            "etcd_endpoint": self.url,
            "state": self.state,
            "last_error": self.last_error,
            "lease_id": f"{self.lease:x}" if self.lease else "",
            "lease_ttl": self.settings.lease_ttl,
            "lease_age_seconds": round(now - self.lease_granted, 3) if self.lease else None,
            "watch_revision": self.revision,
            "watch_lag": max(0, cluster_revision - self.revision) if self.revision else None,
            "reloads": self.reloads,
            "rejected_values": self.rejected,
            "published_endpoints": len(self.publisher.desired),
            "etcd_writes": self.publisher.writes,
            "etcd_transactions": self.publisher.transactions,
            "nodes": {n: len(ids) for n, ids in sorted(self.nodes.items())},
            "disconnected_seconds": (
                round(now - self.disconnected_since, 3) if self.disconnected_since else 0
            ),
        }

    # -- the watcher -------------------------------------------------------------------
    async def watch(self) -> AsyncIterator[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue()
        runner = asyncio.create_task(self._run(queue.put_nowait), name="cluster-member")
        try:
            while True:
                yield await queue.get()
                if self._bulk.loading:  # resumed: the load's event has been applied
                    self._bulk.settled()
                    if queue.empty():
                        self._bulk.done()
                    else:  # DNS and etcd calls in flight get a moment between two resyncs
                        await asyncio.sleep(RESYNC_GAP)
        finally:
            self._bulk.done()
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)

    async def _run(self, emit: Callable[[Event], object]) -> None:
        backoff = MIN_BACKOFF
        while True:
            url = self.settings.etcd.endpoints[self._attempt % len(self.settings.etcd.endpoints)]
            try:
                await self._session(Etcd(self.settings.etcd, url), emit)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure ends the session; the loop retries
                if self._lost(url, exc, backoff):
                    backoff = MIN_BACKOFF
            self._attempt += 1
            await self._pause(backoff, emit)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _lost(self, url: str, exc: BaseException, backoff: float) -> bool:
        """Note the failure; True when the session had been connected."""
        was = self.state
        self.state = "disconnected"
        self.last_error = f"{url}: {_reason(exc)}"
        if self.disconnected_since is None:
            self.disconnected_since = time.monotonic()
        level = logging.WARNING if was == "connected" else logging.DEBUG
        log.log(
            level,
            "cluster: lost etcd (%s); answering the last known remote names, retrying in %.2fs",
            self.last_error,
            backoff,
        )
        return was == "connected"

    async def _pause(self, seconds: float, emit: Callable[[Event], object]) -> None:
        """Sleep `seconds`; forget remote names once etcd has been away for `keep_remote`."""
        await asyncio.sleep(seconds)
        since = self.disconnected_since
        if (
            since is not None
            and self.nodes
            and time.monotonic() - since >= self.settings.keep_remote
        ):
            log.warning(
                "cluster: etcd unreachable for %.0fs: forgetting the remote names of %s",
                self.settings.keep_remote,
                ", ".join(sorted(self.nodes)),
            )
            for node in sorted(self.nodes):
                emit(Resync(cluster_source(node), ()))
            self.nodes.clear()

    async def _session(self, etcd: Etcd, emit: Callable[[Event], object]) -> None:
        self._etcd, self.url = etcd, etcd.url
        if self.state != "disconnected":  # after a loss, "disconnected" until a session is up
            self.state = "connecting"
        try:
            await self._lease(etcd)
            await self.publisher.republish(etcd, self.lease)
            async with asyncio.TaskGroup() as group:
                group.create_task(self._keepalive(etcd))  # a load can outlast the lease's TTL
                revision = await self.load(etcd, emit)
                self.state, self.disconnected_since, self.last_error = "connected", None, ""
                log.info(
                    "cluster: node %s connected to etcd at %s (lease %x, revision %d)",
                    self.settings.node,
                    etcd.url,
                    self.lease,
                    revision,
                )
                group.create_task(self._publish(etcd))
                # the watch opens once the load is applied: applying 100,000 endpoints keeps
                # the loop too busy for the watch's creation reply (it timed out, and the
                # session restarted and loaded everything again); it starts at `revision`
                await self._bulk.applied.wait()
                self.loaded.set()
                group.create_task(self.follow(etcd, revision, emit))
        finally:
            self.cluster_revision = max(self.cluster_revision, etcd.cluster_revision)
            await etcd.close()

    async def _lease(self, etcd: Etcd) -> None:
        """Keep the lease if etcd still has it, else grant a new one (and republish)."""
        if self.lease:
            with contextlib.suppress(Exception):  # gone or unreadable: grant a new one
                await etcd.keepalive(self.lease)
                return
        self.lease = await etcd.grant(self.settings.lease_ttl)
        self.lease_granted = time.monotonic()

    async def _keepalive(self, etcd: Etcd) -> None:
        while True:
            await asyncio.sleep(self.settings.lease_ttl / 3)
            await etcd.keepalive(self.lease)

    async def _publish(self, etcd: Etcd) -> None:
        while True:
            await self.publisher.wake.wait()
            self.publisher.wake.clear()
            await self.publisher.flush(etcd, self.lease)

    async def load(self, etcd: Etcd, emit: Callable[[Event], object]) -> int:
        """One range read: a `Resync` per node seen (and an empty one per node gone). What
        it builds is kept out of the collector's way until the resyncs are applied."""
        self._bulk.start()
        try:
            return await self._load(etcd, emit)
        except BaseException:
            self._bulk.done()  # nothing more will be applied for this load
            raise

    async def _load(self, etcd: Etcd, emit: Callable[[Event], object]) -> int:
        revision, items = await etcd.range(prefix(self.settings.zone))
        found: dict[str, list[Endpoint]] = {}
        for count, (key, value, _) in enumerate(items, 1):
            endpoint = self._decode(key, value)
            if endpoint is not None:
                found.setdefault(endpoint.source, []).append(endpoint)
            if count % DECODE_SLICE == 0:
                self._bulk.grew()
                await asyncio.sleep(0)  # a big load must not stall DNS answers for long
        nodes = {ep.node for eps in found.values() for ep in eps}
        for node in sorted(set(self.nodes) | nodes):
            emit_resync(emit, cluster_source(node), tuple(found.get(cluster_source(node), ())))
        emit(Resync(cluster_source(self.settings.node), ()))  # marks the load done, even when empty
        self.nodes = {n: {ep.id for ep in found[cluster_source(n)]} for n in nodes}
        self.revision = revision
        return revision

    async def follow(self, etcd: Etcd, revision: int, emit: Callable[[Event], object]) -> None:
        while True:
            try:
                async for change in etcd.watch(prefix(self.settings.zone), revision + 1):
                    self._apply(change, emit)
            except Compacted as exc:
                self.reloads += 1
                log.warning(
                    "cluster: watch from revision %d was compacted (%s): reloading",
                    revision + 1,
                    exc,
                )
                revision = await self.load(etcd, emit)

    def _apply(self, change: Change, emit: Callable[[Event], object]) -> None:
        self.revision = change.revision
        where = split_key(self.settings.zone, change.key)
        if where is None or where[0] == self.settings.node:
            return
        node, endpoint_id = where
        endpoint = self._decode(change.key, change.value) if change.value is not None else None
        if endpoint is not None:
            self.nodes.setdefault(node, set()).add(endpoint_id)
            emit(Upsert(endpoint))
        elif endpoint_id in self.nodes.get(node, ()):
            self.nodes[node].discard(endpoint_id)
            if not self.nodes[node]:
                del self.nodes[node]
            emit(Remove(cluster_source(node), endpoint_id))

    def _decode(self, key: str, value: bytes) -> Endpoint | None:
        where = split_key(self.settings.zone, key)
        if where is None or where[0] == self.settings.node:
            return None
        try:
            return decode(value, *where)
        except BadValue as exc:
            self.rejected += 1
            log.warning("cluster: skipping etcd key %s: %s", key[:300], exc)
            return None


def emit_resync(
    emit: Callable[[Event], object], source: str, endpoints: tuple[Endpoint, ...]
) -> None:
    """A node's `Resync`, a big one preceded by slices of it (`Upserts`): each event costs
    the event loop at most `RESYNC_SLICE` endpoints' work, and the `Resync` then only adds
    the last slice, drops what is gone and marks the node synced."""
    for start in range(0, len(endpoints) - RESYNC_SLICE, RESYNC_SLICE):
        emit(Upserts(source, endpoints[start : start + RESYNC_SLICE]))
    emit(Resync(source, endpoints))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(_reason(e) for e in exc.exceptions)
    text = str(exc) or type(exc).__name__
    return text if len(text) < 300 else text[:300] + "..."
