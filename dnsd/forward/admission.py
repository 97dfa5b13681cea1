"""The in-flight cap: how many client queries may wait for upstreams at once.

Every forwarded query that misses the cache waits on one upstream resolution
(identical questions share one), and a resolution holds at most one upstream
socket at a time, so capping the waiting queries caps upstream sockets, tasks
and memory together. Beyond the cap a query is answered at once (the caller
sends SERVFAIL) and counted; the first refusal after a quiet spell is logged.
It must not send, resolve or build messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

DNSMASQ_DEFAULT = 150  # dnsmasq's --dns-forward-max; we allow this many per upstream
LOG_INTERVAL = 60.0


def default_cap(upstreams: int) -> int:
    """The cap when none is configured: dnsmasq's 150, per upstream."""
    return DNSMASQ_DEFAULT * max(1, upstreams)


class Admission:
    """Counts client queries waiting per resolution; refuses beyond `limit`."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1:
            raise ValueError("the in-flight limit must be at least 1")
        self.limit = limit
        self.waiting = 0  # client queries waiting for a resolution
        self.refused = 0  # queries answered at once because the cap was reached
        self._joined: dict[object, int] = {}  # resolution -> client queries waiting on it
        self._clock = clock
        self._last_log = -LOG_INTERVAL
        self._refused_since_log = 0

    def full(self) -> bool:
        """True (and counted, and logged now and then) when no query may start waiting."""
        if self.waiting < self.limit:
            return False
        self.refused += 1
        self._refused_since_log += 1
        now = self._clock()
        if now - self._last_log >= LOG_INTERVAL:
            log.warning(
                "forwarding: %d queries already wait for upstreams (--forward-max-in-flight %d); "
                "answering SERVFAIL at once until some finish (%d refused since the last message)",
                self.waiting,
                self.limit,
                self._refused_since_log,
            )
            self._last_log = now
            self._refused_since_log = 0
        return True

    def join(self, resolution: object) -> None:
        """A client query starts waiting on `resolution`."""
        self._joined[resolution] = self._joined.get(resolution, 0) + 1
        self.waiting += 1

    def finished(self, resolution: object) -> None:
        """`resolution` ended: every query that waited on it stops counting."""
        self.waiting -= self._joined.pop(resolution, 0)
