"""`DaemonPool`: blocking calls off the event loop, side by side up to its size."""

from __future__ import annotations

import asyncio
import functools
import threading

import pytest

from watchers.docker_threads import DaemonPool


async def test_calls_run_side_by_side_up_to_the_size_and_errors_reach_the_caller() -> None:
    pool = DaemonPool(3, "test-pool")
    lock, running, most = threading.Lock(), [0], [0]
    gate = threading.Event()

    def call(n: int) -> int:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        gate.wait(5)
        with lock:
            running[0] -= 1
        return n * 2

    def fail() -> int:
        raise LookupError("engine said no")

    try:
        calls = [asyncio.create_task(pool.run(functools.partial(call, n))) for n in range(8)]
        while most[0] < 3:
            await asyncio.sleep(0.01)
        gate.set()
        assert await asyncio.gather(*calls) == [n * 2 for n in range(8)]
        assert most[0] == 3  # three at once: a slow call does not hold up the next two
        with pytest.raises(LookupError, match="engine said no"):
            await pool.run(fail)
    finally:
        pool.close()
