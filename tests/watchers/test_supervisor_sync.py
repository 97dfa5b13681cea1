"""A supervised watcher that loses its source marks it unsynced after a grace, until it resyncs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from registry import Event, Resync, Store
from watchers.base import Supervisor

SOURCE = "flaky"


class Flaky:
    """Resyncs, then fails while `down` is set; resyncs again once it is cleared."""

    source = SOURCE

    def __init__(self) -> None:
        self.down = asyncio.Event()
        self.attempts = 0

    async def watch(self) -> AsyncIterator[Event]:
        self.attempts += 1
        if self.down.is_set():
            raise ConnectionError("engine gone")
        yield Resync(SOURCE, ())
        while not self.down.is_set():
            await asyncio.sleep(0.01)
        raise ConnectionError("engine gone")


async def wait_until(condition: object, seconds: float = 10.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_a_long_outage_marks_the_source_pending_and_a_resync_clears_it() -> None:
    store = Store()
    watcher = Flaky()
    supervisor = Supervisor(watcher, store.apply, min_backoff=0.05, max_backoff=0.1,
                            unsynced_after=0.2)  # fmt: skip
    task = asyncio.create_task(supervisor.run())
    try:
        await supervisor.synced.wait()
        assert store.snapshot.pending == frozenset()
        watcher.down.set()
        await wait_until(lambda: SOURCE in store.snapshot.pending)
        watcher.down.clear()
        await wait_until(lambda: SOURCE not in store.snapshot.pending)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_quick_reconnect_does_not_mark_the_source_pending() -> None:
    store = Store()
    watcher = Flaky()
    supervisor = Supervisor(watcher, store.apply, min_backoff=0.01, max_backoff=0.01,
                            unsynced_after=30.0)  # fmt: skip
    task = asyncio.create_task(supervisor.run())
    try:
        await supervisor.synced.wait()
        watcher.down.set()
        await wait_until(lambda: watcher.attempts >= 3)
        watcher.down.clear()
        await wait_until(lambda: supervisor.status.resyncs >= 2)
        assert store.snapshot.pending == frozenset()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
