"""The live change feed: records every registry change in the history and fans it out.

`ChangeFeed` subscribes to the store, turns each applied event into change
records (`registry.History`, stamped with the wall clock here) and offers them
to followers. Followers are bounded twice: at most `max_followers` at once,
and each buffers at most `buffer` records; one that falls further behind is
dropped (told so, and closed), never grown. It must not know HTTP or render
anything.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

from registry import Change, Event, History, Snapshot, Store

log = logging.getLogger(__name__)

MAX_FOLLOWERS = 64
FOLLOWER_BUFFER = 1000


class TooManyFollowers(Exception):
    """Every follower slot is taken; str() is the message for the client."""


class Follower:
    """One reader of the live feed, with a bounded buffer of matching changes."""

    def __init__(self, matches: Callable[[Change], bool], limit: int) -> None:
        self.matches = matches
        self.limit = limit
        self.dropped = False
        self.closed = False
        self._buffer: deque[Change] = deque()
        self._wake = asyncio.Event()

    def offer(self, changes: tuple[Change, ...]) -> None:
        """Buffer the matching changes, or drop this follower if they do not fit."""
        if self.dropped or self.closed:
            return
        wanted = [c for c in changes if self.matches(c)]
        if not wanted:
            return
        if len(self._buffer) + len(wanted) > self.limit:
            self.dropped = True
            self._buffer.clear()
        else:
            self._buffer.extend(wanted)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_batch(self, timeout: float) -> list[Change]:
        """Wait up to `timeout` s for changes; [] on timeout, dropped or closed."""
        if not self._buffer and not (self.dropped or self.closed):
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                return []
        self._wake.clear()
        batch = list(self._buffer)
        self._buffer.clear()
        return batch


class ChangeFeed:
    """The history of registry changes plus live followers of new ones."""

    def __init__(
        self,
        store: Store,
        history: History,
        clock: Callable[[], float] = time.time,
        max_followers: int = MAX_FOLLOWERS,
        buffer: int = FOLLOWER_BUFFER,
    ) -> None:
        self.history = history
        self.max_followers = max_followers
        self.buffer = buffer
        self.clock = clock
        self._last = store.snapshot
        self._followers: list[Follower] = []
        self._unsubscribe = store.subscribe(self._on_change)

    def _on_change(self, snapshot: Snapshot, event: Event) -> None:
        try:
            if not self._followers:  # the records are made when the history is read
                self.history.note(self._last, snapshot, event, self.clock())
                return
            changes = self.history.record(self._last, snapshot, event, self.clock())
            for follower in tuple(self._followers):
                follower.offer(changes)
        except Exception:  # the history must never break the store
            log.exception("could not record a registry change")
        finally:
            self._last = snapshot

    @property
    def followers(self) -> int:
        return len(self._followers)

    def follow(self, matches: Callable[[Change], bool]) -> Follower:
        """A new follower of changes that `matches`; raises TooManyFollowers when full."""
        if len(self._followers) >= self.max_followers:
            raise TooManyFollowers(
                f"{self.max_followers} followers of /v1/events already; try again later"
            )
        follower = Follower(matches, self.buffer)
        self._followers.append(follower)
        return follower

    def unfollow(self, follower: Follower) -> None:
        if follower in self._followers:
            self._followers.remove(follower)

    def end_followers(self) -> None:
        """Tell every follower to finish (the HTTP server is shutting down)."""
        for follower in tuple(self._followers):
            follower.close()

    def close(self) -> None:
        """Stop recording and end every follower (at shutdown); safe to call twice."""
        self._unsubscribe()
        self._unsubscribe = _nothing
        self.end_followers()


def _nothing() -> None:
    return None
