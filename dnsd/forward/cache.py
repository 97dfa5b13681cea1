"""The forwarding cache: encoded upstream replies by question, with TTLs counting down.

Entries live for the reply's smallest TTL (capped), negative answers for the
SOA minimum (RFC 2308), or a configured time when the upstream sent no SOA.
A hit re-encodes the TTLs at most once per second per entry, so the common hit
is a dict lookup. With serve-stale (RFC 8767) expired entries are kept for a
while and can be served with a short TTL. Size is bound by a cachetools LRU.
It must not parse whole messages or do I/O.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import LRUCache

from dnsd.forward.message import CacheKey, ReplyFacts, cache_ttl, rewrite_ttls

STALE_TTL = 30  # RFC 8767 recommends 30 s for stale answers
STALE_WINDOW = 86_400.0  # how long past expiry an entry may still be served stale


@dataclass(slots=True)
class Entry:
    """One cached reply and the TTLs as received."""

    reply: bytes
    offsets: tuple[int, ...]
    ttls: tuple[int, ...]
    stored: float
    expires: float
    rendered: bytes
    rendered_age: int
    until: float = 0.0  # `rendered` is current before this (next whole second, or expiry)

    def at(self, now: float) -> bytes:
        """The reply with each TTL reduced by the whole seconds elapsed since it was stored."""
        age = int(now - self.stored)
        if age != self.rendered_age:
            self.rendered = rewrite_ttls(self.reply, self.offsets, [t - age for t in self.ttls])
            self.rendered_age = age
        self.until = min(self.stored + age + 1, self.expires)
        return self.rendered


class ReplyCache:
    """An LRU of encoded replies; keys are `Question.key`."""

    def __init__(
        self,
        size: int,
        max_ttl: int,
        *,
        serve_stale: bool = False,
        clock: Callable[[], float] = time.monotonic,
        negative_without_soa: int = 0,
    ) -> None:
        self._entries: LRUCache[CacheKey, Entry] | None = LRUCache(size) if size > 0 else None
        self._max_ttl = max_ttl
        self._negative_without_soa = negative_without_soa
        self._keep_stale = STALE_WINDOW if serve_stale else 0.0
        self.clock = clock
        self.last_until = 0.0  # until when the last reply `fresh` returned stays current

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)

    def put(self, key: CacheKey, reply: bytes, facts: ReplyFacts) -> bool:
        """Store `reply` if it may be cached; True if stored."""
        ttl = cache_ttl(facts, self._max_ttl, self._negative_without_soa)
        if ttl <= 0 or self._entries is None:
            return False
        now = self.clock()
        capped = tuple(min(t, ttl) for t in facts.ttls)
        body = rewrite_ttls(reply, facts.ttl_offsets, list(capped))
        self._entries[key] = Entry(body, facts.ttl_offsets, capped, now, now + ttl, body, 0)
        return True

    def fresh(self, key: CacheKey) -> bytes | None:
        """The unexpired reply for `key` with TTLs counted down, or None."""
        entries = self._entries
        if entries is None:
            return None
        try:
            entry = entries[key]  # a hit marks the entry most recently used
        except KeyError:
            return None
        now = self.clock()
        if now < entry.until:  # the common hit: this second's rendering
            self.last_until = entry.until
            return entry.rendered
        if now < entry.expires:
            rendered = entry.at(now)
            self.last_until = entry.until
            return rendered
        if now >= entry.expires + self._keep_stale:
            del entries[key]
        return None

    def stale(self, key: CacheKey) -> bytes | None:
        """An expired reply for `key` with every TTL set to 30 s (serve-stale), or None."""
        if self._entries is None or not self._keep_stale:
            return None
        entry = self._entries.get(key)
        if entry is None or self.clock() >= entry.expires + self._keep_stale:
            return None
        return rewrite_ttls(entry.reply, entry.offsets, [STALE_TTL] * len(entry.offsets))
