"""A persistent mapping: a shared, never-mutated base dict plus a small overlay of changes.

`LayeredMap.update(changes)` returns a new map and leaves the old one intact, copying only
the overlay (at most about the square root of the map's size); when the overlay outgrows
that bound it is folded into a fresh base. So one change costs O(sqrt n) dictionary work
amortised instead of O(n), and a lookup costs at most two dictionary probes. Pure data:
no I/O, no knowledge of endpoints or names.
"""

from __future__ import annotations

from collections.abc import Iterator, KeysView, Mapping
from typing import Final, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class _Deleted:
    """The overlay's marker for a key removed from the base."""

    __slots__ = ()


DELETED: Final = _Deleted()
MIN_OVERLAY = 256


class LayeredMap(Mapping[K, V], Generic[K, V]):
    """An immutable mapping whose `update` shares almost everything with its parent."""

    __slots__ = ("_base", "_len", "_overlay")

    def __init__(self, base: Mapping[K, V] | None = None) -> None:
        self._base: dict[K, V] = dict(base or {})
        self._overlay: dict[K, V | _Deleted] = {}
        self._len = len(self._base)

    def __getitem__(self, key: K) -> V:
        value = self._overlay.get(key, self._base.get(key, DELETED))
        if isinstance(value, _Deleted):
            raise KeyError(key)
        return value

    def get(self, key: K, default: V | None = None) -> V | None:  # type: ignore[override]
        if not self._overlay:  # just folded (a bulk load): one probe
            return self._base.get(key, default)
        value = self._overlay.get(key, self._base.get(key, DELETED))
        return default if isinstance(value, _Deleted) else value

    def __contains__(self, key: object) -> bool:
        value = self._overlay.get(key, self._base.get(key, DELETED))  # type: ignore[arg-type]
        return not isinstance(value, _Deleted)

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        overlay = self._overlay
        for key in self._base:
            if not isinstance(overlay.get(key), _Deleted):
                yield key
        for key, value in overlay.items():
            if key not in self._base and not isinstance(value, _Deleted):
                yield key

    def update(self, changes: Mapping[K, V | _Deleted]) -> LayeredMap[K, V]:
        """A new map with `changes` applied (a value of `DELETED` removes the key)."""
        if not changes:
            return self
        if len(changes) > self._bound():  # it would fold anyway: one pass into a new base
            return self._rebased(changes)
        new: LayeredMap[K, V] = LayeredMap.__new__(LayeredMap)
        new._base = self._base
        new._len = self._len
        overlay = dict(self._overlay)
        for key, value in changes.items():
            before = key in self
            if not isinstance(value, _Deleted):
                overlay[key] = value
            elif key in self._base:
                overlay[key] = DELETED
            else:
                overlay.pop(key, None)
            new._len += (not isinstance(value, _Deleted)) - before
        new._overlay = overlay
        if len(overlay) > new._bound():
            new._fold()
        return new

    def held(self, keys: KeysView[K]) -> set[K]:
        """The keys among `keys` this map holds, found by set operations over its dicts."""
        found = keys & self._base.keys()
        if self._overlay:
            found |= keys & self._overlay.keys()
            found = {key for key in found if key in self}
        return found

    def joined(self, values: dict[K, V]) -> LayeredMap[K, V]:
        """A new map with `values` set (no deletions; the caller gives the dict up). A big
        batch becomes the new base in one C-level update, or the base itself when this map
        is empty (a first load): no entry is copied one by one."""
        if len(values) <= self._bound():
            return self.update(values)
        if self._base or self._overlay:
            base = self._folded()
            base.update(values)
        else:
            base = values
        return _based(base)

    def _bound(self) -> int:
        """The most entries the overlay holds before it is folded into a new base."""
        return max(MIN_OVERLAY, int(len(self._base) ** 0.5))

    def _rebased(self, changes: Mapping[K, V | _Deleted]) -> LayeredMap[K, V]:
        return _based(_laid(self._folded(), changes))

    def _folded(self) -> dict[K, V]:
        """A fresh dict of the base with the overlay applied."""
        return _laid(dict(self._base), self._overlay)

    def _fold(self) -> None:
        self._base, self._overlay = self._folded(), {}


def _laid(base: dict[K, V], layer: Mapping[K, V | _Deleted]) -> dict[K, V]:
    """`base` (changed in place) with `layer`'s values set and its `DELETED` keys removed."""
    for key, value in layer.items():
        if isinstance(value, _Deleted):
            base.pop(key, None)
        else:
            base[key] = value
    return base


def _based(base: dict[K, V]) -> LayeredMap[K, V]:
    """A map whose base is `base` itself (not copied) and whose overlay is empty."""
    new: LayeredMap[K, V] = LayeredMap.__new__(LayeredMap)
    new._base, new._overlay, new._len = base, {}, len(base)
    return new
