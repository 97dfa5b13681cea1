"""An immutable view of every endpoint, with the indexes the DNS core reads.

`Snapshot.apply(event)` returns a new snapshot; nothing here mutates after
construction, and a new snapshot shares everything an event did not touch with
the old one, so an event costs what it changed, not the size of the registry.
Lookups take name keys (see `registry.names`) and a client (its address or its
`ClientView`; the isolation rule lives in `registry.view`), and know nothing of
zones or wire formats. A snapshot also says which sources are `pending` (not
synced yet, so a name they might own is unknown rather than absent) and the
wall-clock second of its last change (`changed_at`, never earlier than the
previous one; the caller supplies the clock reading). No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

from registry.events import Event, Networks, Remove, Resync, Unsynced, Upsert, Upserts
from registry.index import Indexes, Pair
from registry.keys import SrvRecord, canonical_ip
from registry.layered import DELETED, LayeredMap, _Deleted
from registry.model import Endpoint, Network
from registry.resolution import (
    FOUND,
    HIDDEN,
    NOT_FOUND,
    Resolution,
    UnhealthyPolicy,
    in_rotation,
    resolution,
)
from registry.view import (
    FULL_VIEW,
    ClientView,
    NetworkIndex,
    Recognition,
    client_view,
    recognition,
    visible_addresses,
    visible_endpoints,
)

Ref = tuple[str, str]
Sources = dict[str, LayeredMap[str, Endpoint]]


class _AllEndpoints(Mapping[Ref, Endpoint]):
    """Every endpoint of every source, keyed by (source, id); a view, never copied."""

    __slots__ = ("_sources",)

    def __init__(self, sources: Sources) -> None:
        self._sources = sources

    def __getitem__(self, ref: Ref) -> Endpoint:
        return self._sources[ref[0]][ref[1]]

    def __contains__(self, ref: object) -> bool:
        if not isinstance(ref, tuple) or len(ref) != 2:
            return False
        own = self._sources.get(ref[0])
        return own is not None and ref[1] in own

    def __len__(self) -> int:
        return sum(len(m) for m in self._sources.values())

    def __iter__(self) -> Iterator[Ref]:
        for source, endpoints in self._sources.items():
            for id_ in endpoints:
                yield (source, id_)


class Snapshot:
    """All endpoints at one version, indexed by name, SRV name and address."""

    __slots__ = ("_indexes", "_networks", "_sources", "changed_at", "pending", "version")

    def __init__(
        self,
        endpoints: Mapping[Ref, Endpoint] | None = None,
        version: int = 0,
        *,
        pending: Iterable[str] = (),
        changed_at: int = 0,
        networks: NetworkIndex | None = None,
    ) -> None:
        self.version = version
        self.pending = frozenset(pending)
        self.changed_at = changed_at
        self._networks = networks or NetworkIndex()
        self._sources: Sources = {}
        self._indexes = Indexes()
        if endpoints:
            self._sources, self._indexes = self._added(list(endpoints.values()))

    # -- events -------------------------------------------------------------
    def apply(self, event: Event, now: int | None = None) -> Snapshot:
        """Return the snapshot that follows this one after `event` (itself if nothing changed);
        `now` is the wall-clock second of the change (`changed_at` keeps the later of it and
        the previous one)."""
        if isinstance(event, Networks):
            index = self._networks.replaced(event.source, event.networks)
            return self if index is self._networks else self._changed([], self.pending, now, index)
        pending = self.pending
        if isinstance(event, Upsert):
            ep = event.endpoint
            before = self._sources.get(ep.source, _EMPTY).get(ep.id)
            pairs: list[Pair] = [] if before == ep else [(before, ep)]
        elif isinstance(event, Remove):
            gone = self._sources.get(event.source, _EMPTY).get(event.id)
            pairs = [] if gone is None else [(gone, None)]
        elif isinstance(event, Unsynced):
            pairs = []
            pending = pending | {event.source}
        elif isinstance(event, Upserts):
            pairs = _resync_pairs(self._sources.get(event.source, _EMPTY), event, drop=False)
        else:
            pairs = _resync_pairs(self._sources.get(event.source, _EMPTY), event)
            pending = pending - {event.source}
        if not pairs and pending == self.pending:
            return self
        return self._changed(pairs, pending, now)

    def _changed(
        self,
        pairs: list[Pair],
        pending: frozenset[str],
        now: int | None,
        networks: NetworkIndex | None = None,
    ) -> Snapshot:
        new = Snapshot.__new__(Snapshot)
        new.version = self.version + 1
        new.pending = pending
        new.changed_at = self.changed_at if now is None else max(self.changed_at, now)
        new._networks = networks or self._networks
        if pairs and all(before is None for before, _ in pairs):  # a first load: bulk build
            added = [after for _, after in pairs if after is not None]
            new._sources, new._indexes = self._added(added)
            return new
        per_source: dict[str, dict[str, Endpoint | _Deleted]] = {}
        for before, after in pairs:
            ref = (after or before).ref  # type: ignore[union-attr]
            per_source.setdefault(ref[0], {})[ref[1]] = after if after is not None else DELETED
        sources = dict(self._sources)
        for source, changes in per_source.items():
            updated = sources.get(source, _EMPTY).update(changes)
            if updated:
                sources[source] = updated
            else:
                sources.pop(source, None)
        new._sources = sources
        new._indexes = self._indexes.changed(pairs) if pairs else self._indexes
        return new

    def _added(self, endpoints: list[Endpoint]) -> tuple[Sources, Indexes]:
        """The sources and indexes with `endpoints` added, none of which is held yet (the bulk
        build: each source's map is built once and adopted, see `LayeredMap.joined`)."""
        grouped: dict[str, dict[str, Endpoint]] = {}
        for ep in endpoints:
            grouped.setdefault(ep.source, {})[ep.id] = ep
        sources = dict(self._sources)
        for source, own in grouped.items():
            sources[source] = sources.get(source, _EMPTY).joined(own)
        unique = [ep for own in grouped.values() for ep in own.values()]  # one per (source, id)
        return sources, self._indexes.added(unique)

    # -- reads --------------------------------------------------------------
    @property
    def endpoints(self) -> Mapping[Ref, Endpoint]:
        return _AllEndpoints(self._sources)

    def source_endpoints(self, source: str) -> Mapping[str, Endpoint]:
        """The endpoints one source owns, by id."""
        return self._sources.get(source, _EMPTY)

    def sources(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def names(self) -> Mapping[str, tuple[Endpoint, ...]]:
        """Every name key with the endpoints that claim it (in stable order)."""
        return self._indexes.names

    def srv_names(self) -> Mapping[str, tuple[SrvRecord, ...]]:
        return self._indexes.srv

    def has_name(self, key: str) -> bool:
        return key in self._indexes.names or key in self._indexes.srv

    def has_names_below(self, key: str) -> bool:
        """True when some relative name ends in `.key` (an empty non-terminal if not a name)."""
        return key in self._indexes.below

    def networks(self) -> tuple[Network, ...]:
        """Every network the sources have published (names, subnets, gateways)."""
        return self._networks.networks()

    def network_sources(self) -> Mapping[str, tuple[Network, ...]]:
        """Each source's networks (what a copy of this snapshot needs replayed)."""
        return self._networks.by_source()

    def subnets(self) -> frozenset[str]:
        """Every known network's subnet; the same object until the networks change."""
        return self._networks.subnets

    def endpoint_at(self, ip: str, view: ClientView = FULL_VIEW) -> Endpoint | None:
        """The endpoint that owns address `ip` (PTR, and who a client is).

        With a scoped `view`, None unless that client may be given the address.
        """
        canonical = canonical_ip(ip)
        owners = self._indexes.ips.get(canonical)
        if not owners:
            return None
        endpoint = owners[0]
        if view.networks is None:
            return endpoint
        for address in endpoint.addresses:
            if canonical_ip(address.ip) == canonical and view.sees(address):
                return endpoint
        return None

    def client_at(self, ip: str) -> Endpoint | None:
        """The endpoint a query from `ip` comes from: the owner of the address, else the
        endpoint with it as a client-only address (never answered, see `Endpoint`)."""
        found = self.endpoint_at(ip)
        if found is None:
            owners = self._indexes.clients.get(canonical_ip(ip))
            found = owners[0] if owners else None
        return found

    def recognise(self, client_ip: str) -> Recognition | None:
        """Who the client at `client_ip` is and how it was recognised (the explain view);
        None when it is nobody in particular (the full view)."""
        owner = self.endpoint_at(client_ip)
        client = owner or self.client_at(client_ip)
        return recognition(client_ip, owner, client, self._networks)

    def view_of(self, client_ip: str | None) -> ClientView:
        """The isolation rule's view of the client at `client_ip` (None: the full view)."""
        if client_ip is None:
            return FULL_VIEW
        return client_view(client_ip, self.client_at(client_ip), self._networks)

    def addresses_of(self, endpoint: Endpoint, client_ip: str | None = None) -> tuple[str, ...]:
        """The addresses of one endpoint that the client at `client_ip` may be given (SRV glue)."""
        return visible_addresses(self.view_of(client_ip), (endpoint,))

    def resolve(
        self,
        key: str,
        client_ip: str | None = None,
        policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
        *,
        view: ClientView | None = None,
    ) -> Resolution:
        """Addresses for name `key` as seen by the client, in stable (unrotated) order.

        The client is `view` when given, else the view of `client_ip`.
        """
        if view is None:
            view = self.view_of(client_ip)
        claimants = self._indexes.names.get(key)
        if claimants is None:
            records = self._indexes.srv.get(key)
            if records is None:
                return NOT_FOUND
            seen = visible_endpoints(view, tuple(r.endpoint for r in records))
            return FOUND if seen else HIDDEN
        return resolution(view, key, claimants, policy)

    def resolve_srv(
        self,
        key: str,
        client_ip: str | None = None,
        policy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL,
        *,
        view: ClientView | None = None,
    ) -> tuple[SrvRecord, ...]:
        """SRV records under `key` whose endpoints are visible to the client and in rotation."""
        if view is None:
            view = self.view_of(client_ip)
        records = self._indexes.srv.get(key) or ()
        seen = visible_endpoints(view, tuple(r.endpoint for r in records))
        chosen = {e.ref for e in in_rotation(seen, policy)}
        return tuple(r for r in records if r.endpoint.ref in chosen)


_EMPTY: LayeredMap[str, Endpoint] = LayeredMap()


def _resync_pairs(
    own: Mapping[str, Endpoint], event: Resync | Upserts, *, drop: bool = True
) -> list[Pair]:
    """(before, after) for every endpoint of the source that the resync adds, changes or
    (with `drop`) drops. A slice already applied (`Upserts`) is unchanged: the same objects."""
    wanted: dict[str, Endpoint] = {}
    for endpoint in event.endpoints:
        if endpoint.source != event.source:
            raise ValueError(f"resync of {event.source!r} carries {endpoint.source!r}")
        wanted[endpoint.id] = endpoint
    if not own:  # a first load: everything is new
        return [(None, endpoint) for endpoint in wanted.values()]
    pairs: list[Pair] = []
    for id_, endpoint in wanted.items():
        before = own.get(id_)
        if before is not endpoint and before != endpoint:
            pairs.append((before, endpoint))
    if drop:
        pairs += [(ep, None) for id_, ep in own.items() if id_ not in wanted]
    return pairs
