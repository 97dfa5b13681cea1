"""A client's wait for a shared resolution, settled by the client's own absolute deadline.

Several clients may wait on one upstream resolution; each gets a future that
carries the resolution's result, or the fallback (SERVFAIL or stale) the
moment its deadline passes, whichever comes first. Timers and callbacks only:
no task per client. It must not resolve, build messages or count.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def settled(value: R) -> asyncio.Future[R]:
    """A future that already holds `value`."""
    future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
    future.set_result(value)
    return future


def wait_until(
    task: asyncio.Future[T],
    deadline: float,
    on_result: Callable[[T], R],
    on_expiry: Callable[[], R],
) -> asyncio.Future[R]:
    """`on_result(task's result)`, or `on_expiry()` at loop time `deadline` if that is sooner.

    The waiter is cancelled if the task is; cancelling the waiter leaves the task running
    (others may share it) and drops the timer.
    """
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[R] = loop.create_future()

    def resolved(done: asyncio.Future[T]) -> None:
        timer.cancel()
        if waiter.done():
            return
        if done.cancelled():
            waiter.cancel()
        else:
            waiter.set_result(on_result(done.result()))

    def expired() -> None:
        task.remove_done_callback(resolved)
        if not waiter.done():
            waiter.set_result(on_expiry())

    def abandoned(_: asyncio.Future[R]) -> None:
        timer.cancel()
        task.remove_done_callback(resolved)

    timer = loop.call_at(deadline, expired)
    task.add_done_callback(resolved)
    waiter.add_done_callback(abandoned)
    return waiter
