"""A watch whose start revision is compacted during churn reloads and misses no change.

A cluster member (in-process, against the module's real etcd cluster) loads the prefix, then
another node churns, etcd compacts past the member's revision, and the member's watch
starts from the compacted revision while the churn goes on.
"""

from __future__ import annotations

import asyncio

from registry import Address, Endpoint, NameClaim, Origin, Store
from tests.cluster.etcd_cluster import EtcdCluster
from tests.docker_support import eventually
from watchers.cluster import ClusterMember, ClusterSettings
from watchers.cluster.codec import encode, endpoint_key
from watchers.cluster.etcd import Etcd, EtcdSettings


def endpoint(i: int, generation: int = 0) -> Endpoint:
    return Endpoint(
        "file:/x",
        f"line-{i}",
        f"svc{i}",
        (NameClaim(f"svc{i}", Origin.STATIC),),
        (Address(f"10.9.{generation}.{i + 1}", "static"),),
    )


async def test_watch_compaction_during_churn_reloads_and_misses_nothing(
    etcd: EtcdCluster, zone: str
) -> None:
    settings = EtcdSettings((etcd.members[0].url,))
    member = ClusterMember(ClusterSettings(settings, f"{zone}.", "obs", "127.0.0.1"))
    store = Store()
    reader, writer = Etcd(settings, etcd.members[0].url), Etcd(settings, etcd.members[1].url)
    expected: dict[str, str] = {}

    async def put(i: int, generation: int) -> None:
        key = endpoint_key(zone, "c", "file:/x", f"line-{i}")
        await writer.write([(key, encode(endpoint(i, generation), "127.0.0.1"))], [], 0)
        expected[f"svc{i}"] = f"10.9.{generation}.{i + 1}"

    async def delete(i: int) -> None:
        await writer.write([], [endpoint_key(zone, "c", "file:/x", f"line-{i}")], 0)
        expected.pop(f"svc{i}")

    def seen() -> dict[str, str]:
        names = store.snapshot.names()
        return {k: store.snapshot.resolve(k).addresses[0] for k in names if "." not in k}

    follow: asyncio.Task[None] | None = None
    try:
        for i in range(5):
            await put(i, 0)
        revision = await member.load(reader, store.apply)
        assert seen() == expected
        for i in range(5, 40):  # churn the member has not seen
            await put(i, 0)
        for i in range(0, 40, 4):
            await delete(i)
        for i in range(1, 40, 8):
            await put(i, 1)
        etcd.ctl("compact", str(etcd.revision()))
        follow = asyncio.create_task(member.follow(reader, revision, store.apply))
        for i in range(40, 50):  # churn goes on while the member reloads
            await put(i, 2)
        await delete(41)
        await eventually(lambda: seen() == expected, "the member matches etcd after compaction")
        assert member.reloads == 1
        assert member.nodes == {
            "c": {f"file%3A%2Fx/line-{i}" for i in range(50) if f"svc{i}" in expected}
        }
    finally:
        if follow is not None:
            follow.cancel()
            await asyncio.gather(follow, return_exceptions=True)
        await reader.close()
        await writer.close()
