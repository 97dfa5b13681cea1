"""One connection to one etcd member, through the aetcd client (etcd v3 over gRPC).

It adds to aetcd what dnsd needs and aetcd lacks: TLS with a CA and a client certificate,
a paged range read pinned to one revision, transactions split at etcd's operation limit,
and the `hasleader` requirement so that a member cut off from its quorum ends our streams
instead of going silent. Everything is the library's generated gRPC stubs and messages;
no protocol is written here. Must not know endpoints, names or the registry.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aetcd
import aetcd.exceptions
import grpc
from aetcd import rpc, utils

PAGE = 2000
TIMEOUT = 2.0
LEADER = (("hasleader", "true"),)
Compacted = aetcd.exceptions.RevisionCompactedError


class LeaseLost(ConnectionError):
    """The node's lease has expired (etcd no longer knows it)."""


@dataclass(frozen=True)
class EtcdSettings:
    """How to reach etcd: URLs (http:// or https://), TLS files, credentials."""

    endpoints: tuple[str, ...]
    cacert: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    user: str | None = None
    password: str | None = None
    max_txn_ops: int = 128


@dataclass(frozen=True, slots=True)
class Change:
    """One watch event: `value` is None for a deletion."""

    key: str
    value: bytes | None
    revision: int


class _Client(aetcd.Client):  # type: ignore[misc]
    """aetcd's client on a channel we build (TLS when asked), always requiring a leader."""

    def __init__(self, target: str, credentials: grpc.ChannelCredentials | None, **kw: Any) -> None:
        super().__init__(timeout=TIMEOUT, **kw)
        self._target = target
        self._credentials = credentials

    async def connect(self) -> None:
        if self._connected.is_set():
            return
        options = list(self._options.items())
        if self._credentials is not None:
            self.channel = rpc.secure_channel(self._target, self._credentials, options=options)
        else:
            self.channel = rpc.insecure_channel(self._target, options=options)
        self.metadata: tuple[tuple[str, str], ...] = LEADER
        if self._username is not None:
            auth = rpc.AuthStub(self.channel)
            request = rpc.AuthenticateRequest(name=self._username, password=self._password)
            reply = await auth.Authenticate(request, timeout=TIMEOUT)
            self.metadata = (("token", reply.token), *LEADER)
        self.kvstub = rpc.KVStub(self.channel)
        self.clusterstub = rpc.ClusterStub(self.channel)
        self.leasestub = rpc.LeaseStub(self.channel)
        self.maintenancestub = rpc.MaintenanceStub(self.channel)
        self._watcher = aetcd.watcher.Watcher(
            rpc.WatchStub(self.channel), timeout=TIMEOUT, metadata=self.metadata
        )
        self._connected.set()


def target_of(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{parts.port or 2379}"


def _credentials(settings: EtcdSettings, url: str) -> grpc.ChannelCredentials | None:
    if urlsplit(url).scheme != "https":
        return None

    def read(path: Path | None) -> bytes | None:
        return path.read_bytes() if path else None

    credentials: grpc.ChannelCredentials = grpc.ssl_channel_credentials(
        read(settings.cacert), read(settings.key), read(settings.cert)
    )
    return credentials


class Etcd:
    """A session with one member: reads, transactions, leases and one prefix watch."""

    def __init__(self, settings: EtcdSettings, url: str) -> None:
        self.url = url
        self._settings = settings
        self._client = _Client(
            target_of(url),
            _credentials(settings, url),
            username=settings.user,
            password=settings.password,
        )
        self.cluster_revision = 0

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # a broken channel may fail to close; nothing to do
            await self._client.close()

    async def _call(self, stub: Any, request: Any) -> Any:
        await self._client.connect()
        try:
            reply = await stub(request, timeout=TIMEOUT, metadata=self._client.metadata)
        except rpc.AioRpcError as exc:
            aetcd.exceptions._handle_exception(exc)  # raises aetcd's error for the code
        self.cluster_revision = max(self.cluster_revision, reply.header.revision)
        return reply

    async def range(self, prefix: str) -> tuple[int, list[tuple[str, bytes, int]]]:
        """Every (key, value, lease) under `prefix` at one revision, read page by page."""
        start, end = prefix.encode(), utils.prefix_range_end(prefix.encode())
        revision, out = 0, []
        while True:
            await self._client.connect()
            request = rpc.RangeRequest(key=start, range_end=end, limit=PAGE, revision=revision)
            reply = await self._call(self._client.kvstub.Range, request)
            revision = revision or reply.header.revision
            out += [(kv.key.decode(errors="replace"), kv.value, kv.lease) for kv in reply.kvs]
            if not reply.more or not reply.kvs:
                return revision, out
            start = reply.kvs[-1].key + b"\0"

    async def grant(self, ttl: int) -> int:
        await self._client.connect()
        reply = await self._call(self._client.leasestub.LeaseGrant, rpc.LeaseGrantRequest(TTL=ttl))
        return int(reply.ID)

    async def keepalive(self, lease: int) -> int:
        """Refresh `lease`; returns its TTL, or raises `LeaseLost` when it is gone."""
        reply = await self._client.refresh_lease(lease)
        if reply is None or reply.TTL <= 0:
            raise LeaseLost(f"lease {lease:x} has expired")
        self.cluster_revision = max(self.cluster_revision, reply.header.revision)
        return int(reply.TTL)

    async def write(
        self, puts: Sequence[tuple[str, bytes]], deletes: Sequence[str], lease: int
    ) -> int:
        """Puts (on `lease`) and deletes, as few transactions as etcd's operation limit allows."""
        await self._client.connect()
        ops = [
            rpc.RequestOp(request_put=rpc.PutRequest(key=k.encode(), value=v, lease=lease))
            for k, v in puts
        ]
        ops += [
            rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=k.encode()))
            for k in deletes
        ]
        step = self._settings.max_txn_ops
        for i in range(0, len(ops), step):
            try:
                await self._call(self._client.kvstub.Txn, rpc.TxnRequest(success=ops[i : i + step]))
            except aetcd.exceptions.ClientError as exc:
                if "lease not found" in str(exc):
                    raise LeaseLost(f"lease {lease:x} has expired") from None
                raise
        return (len(ops) + step - 1) // step

    async def watch(self, prefix: str, revision: int) -> AsyncIterator[Change]:
        """Changes under `prefix` from `revision` on; raises `Compacted` when it is gone."""
        await self._client.connect()
        key = prefix.encode()
        stream = await self._client.watch(
            key, range_end=utils.prefix_range_end(key), start_revision=revision
        )
        try:
            async for event in stream:
                value = event.kv.value if event.kind == "PUT" else None
                revision = int(event.kv.mod_revision)
                self.cluster_revision = max(self.cluster_revision, revision)
                yield Change(event.kv.key.decode(errors="replace"), value, revision)
        finally:
            with contextlib.suppress(Exception):  # a dead stream may not take the cancel
                await asyncio.wait_for(stream.cancel(), TIMEOUT)
        raise ConnectionError(f"etcd at {self.url} ended the watch")
