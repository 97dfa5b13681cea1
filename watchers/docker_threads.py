"""Blocking Docker SDK calls kept off the event loop: daemon threads and the event-stream pump.

The SDK blocks, so each engine call runs in a daemon thread (it never holds up interpreter or
loop shutdown) and hands its result back with `call_soon_threadsafe`; `DaemonPool` keeps a few
such threads for a stream of calls (no thread started per call, a bound on how many run at
once); the event stream is read in one thread into an asyncio queue, ending with a `StreamEnd`.
No engine knowledge here.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
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


class DaemonPool:
    """Up to `size` daemon threads running blocking calls for one event loop; `close()` ends
    them once their current call returns (a call never blocks interpreter shutdown)."""

    def __init__(self, size: int, name: str) -> None:
        self.size, self.name = size, name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0  # threads waiting for a job
        self._queued = 0  # jobs no thread has taken yet
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if not future.done():
                future.set_result(value) if ok else future.set_exception(value)

        def job() -> None:
            try:
                result: Any = (True, fn())
            except BaseException as exc:  # handed to the awaiting task
                result = (False, exc)
            post(loop, settle, *result)

        with self._lock:
            self._queued += 1
            self._jobs.put(job)
            if self._queued > self._idle and self._threads < self.size:
                self._threads += 1
                threading.Thread(target=self._work, name=self.name, daemon=True).start()
        return await future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            job = self._jobs.get()
            with self._lock:
                self._idle -= 1
                self._queued -= job is not None
            if job is None:
                return
            job()

    def close(self) -> None:
        with self._lock:
            threads = self._threads
        for _ in range(threads):
            self._jobs.put(None)


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
