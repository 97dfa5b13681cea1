"""A node with many endpoints is loaded in slices: the member yields `Upserts` of at most
`RESYNC_SLICE` endpoints and then the node's `Resync`, and the event loop (DNS answers) gets
turns between them. Against the module's real etcd cluster."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from registry import Address, Endpoint, Event, NameClaim, Origin, Resync, Scope, Store, Upserts
from tests.cluster.etcd_cluster import EtcdCluster
from watchers.cluster import ClusterMember, ClusterSettings, member
from watchers.cluster.codec import cluster_source, encode, endpoint_key
from watchers.cluster.etcd import Etcd, EtcdSettings


def endpoint(i: int) -> Endpoint:
    return Endpoint(
        "docker",
        f"c{i}",
        f"web{i}",
        (NameClaim(f"web{i}", Origin.CONTAINER_NAME), NameClaim("web", Origin.COMPOSE_SERVICE)),
        (Address(f"10.7.0.{i + 1}", "ov", Scope.OVERLAY),),
    )


async def test_a_big_node_is_applied_in_slices_with_turns_between(
    etcd: EtcdCluster, zone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(member, "RESYNC_SLICE", 4)
    settings = EtcdSettings((etcd.members[0].url,))
    writer = Etcd(settings, etcd.members[0].url)
    await writer.write(
        [(endpoint_key(zone, "big", "docker", f"c{i}"), encode(endpoint(i), "")) for i in range(10)]
        + [(endpoint_key(zone, "small", "docker", "c0"), encode(endpoint(0), ""))],
        [],
        0,
    )
    await writer.close()
    store = Store()
    seen: list[str] = []
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    cluster = ClusterMember(ClusterSettings(settings, f"{zone}.", "me", "127.0.0.1"))
    ticker = asyncio.create_task(tick())
    try:
        async with asyncio.timeout(20):
            async for event in cluster.watch():
                store.apply(event)
                seen.append(f"{_kind(event)}:{_size(event)}:{ticks}")
                if isinstance(event, Resync) and event.source == cluster_source("me"):
                    break  # the load's last event
    finally:
        ticker.cancel()
    kinds = [s.rsplit(":", 1)[0] for s in seen]
    assert kinds == [
        "Upserts:4",  # big: 4 + 4, then the Resync adds the last 2
        "Upserts:4",
        "Resync:10",
        "Resync:1",  # small: one event
        "Resync:0",  # the member's own node: marks the load done
    ]
    turns = [int(s.rsplit(":", 1)[1]) for s in seen]
    assert all(later > earlier for earlier, later in itertools.pairwise(turns))
    names = store.snapshot.names()
    assert len(store.snapshot.source_endpoints(cluster_source("big"))) == 10
    assert len(names["web"]) == 11


def _kind(event: Event) -> str:
    return type(event).__name__


def _size(event: Event) -> int:
    return len(event.endpoints) if isinstance(event, Upserts | Resync) else 1
