"""When `dnsd serve` is ready, in systemd's terms: READY=1 once every source has synced once.

One job: wait for the first full sync of every enabled source (each given as a name and an
`asyncio.Event` the composition root takes from its supervisors), then send READY=1 with a
STATUS= line, and keep STATUS= saying what is still awaited meanwhile. It must not import
`watchers` (the dependency rule) nor touch sockets other than through the `Notifier`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from dnsd.ops.sdnotify import Notifier

log = logging.getLogger(__name__)


async def notify_when_synced(
    notifier: Notifier, sources: Sequence[tuple[str, asyncio.Event]], listeners: Sequence[str]
) -> None:
    """Send READY=1 after every event in `sources` is set (at once when there are none)."""
    where = ", ".join(listeners)
    for index, (_, synced) in enumerate(sources):
        if not synced.is_set():
            waiting = [n for n, e in sources[index:] if not e.is_set()]
            notifier.status(f"listening on {where}; waiting for the first sync of "
                            + ", ".join(waiting))  # fmt: skip
            await synced.wait()
    names = ", ".join(name for name, _ in sources) or "no sources"
    notifier.ready(f"serving on {where}; synced: {names}")
    log.info("ready: every source has synced once (%s)", names)
