"""Blocking Docker SDK calls kept off the event loop: daemon threads and the event-stream pump.

The SDK blocks, so each engine call runs in a daemon thread (it never holds up interpreter or
loop shutdown) and hands its result back with `call_soon_threadsafe`; the event stream is read
in one thread into an asyncio queue, ending with a `StreamEnd`. No engine knowledge here.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class StreamEnd:
    """Queue sentinel: the pump thread stopped, with the reason when it failed."""

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """Like `asyncio.to_thread`, but the thread never blocks interpreter or loop shutdown."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def run() -> None:
        try:
            result: Any = (True, fn())
        except BaseException as exc:  # handed to the awaiting task
            result = (False, exc)
        post(loop, settle, *result)

    threading.Thread(target=run, name="dnsd-docker-call", daemon=True).start()
    return await future


def post(loop: asyncio.AbstractEventLoop, fn: Callable[..., None], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(fn, *args)


def start_pump(
    stream: Iterator[Any], queue: asyncio.Queue[Any], name: str = "dnsd-docker-events"
) -> None:
    """Read a blocking event stream in daemon thread `name` and put its items on `queue`,
    then a `StreamEnd`."""
    loop = asyncio.get_running_loop()

    def run() -> None:
        end = StreamEnd(None)
        try:
            for item in stream:
                post(loop, queue.put_nowait, item)
        except BaseException as exc:  # the stream broke or was closed under us
            end = StreamEnd(exc)
        post(loop, queue.put_nowait, end)

    threading.Thread(target=run, name=name, daemon=True).start()
