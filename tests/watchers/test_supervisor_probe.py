"""Issue 9, item 13 without an engine: a supervisor backing off at the 30 s cap reconnects as
soon as its watcher's probe sees the source come back, and only then (not while it is up but
failing for another reason)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from registry import Event, Resync, Store
from tests.docker_support import eventually
from watchers.base import Supervisor, WatcherState
from watchers.docker_watcher import DockerWatcher


class FlakySource:
    """A watcher whose source is `up` or not; `watch()` fails while it is down."""

    source = "flaky"

    def __init__(self) -> None:
        self.up = True
        self.failing = False  # up, but watch() fails anyway (a bug, a broken stream)
        self.attempts = 0

    async def watch(self) -> AsyncIterator[Event]:
        self.attempts += 1
        if not self.up or self.failing:
            raise ConnectionError("source unavailable")
        yield Resync(self.source, ())
        while self.up:
            await asyncio.sleep(0.01)
        raise ConnectionError("source went away")

    async def probe(self) -> bool:
        return self.up


async def test_reconnects_when_the_probe_sees_the_source_return() -> None:
    source = FlakySource()
    supervisor = Supervisor(source, Store().apply, min_backoff=30.0, max_backoff=30.0,
                            probe_interval=0.02)  # fmt: skip
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: supervisor.status.resyncs == 1, "first sync")
        source.up = False
        await eventually(lambda: supervisor.status.state is WatcherState.BACKING_OFF, "loss")
        await asyncio.sleep(0.2)
        assert source.attempts == 1  # no reconnect while the probe says down
        source.up = True
        await eventually(lambda: supervisor.status.resyncs == 2, "resync well before 30 s",
                         timeout=3.0)  # fmt: skip
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_source_that_is_up_but_failing_waits_out_its_backoff() -> None:
    source = FlakySource()
    source.failing = True
    supervisor = Supervisor(source, Store().apply, min_backoff=30.0, max_backoff=30.0,
                            probe_interval=0.02)  # fmt: skip
    task = asyncio.create_task(supervisor.run())
    try:
        await eventually(lambda: supervisor.status.state is WatcherState.BACKING_OFF, "failed")
        await asyncio.sleep(0.5)
        assert source.attempts == 1  # the probe answering is no reason to hammer it
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    ("status_line", "expected"),
    [(b"HTTP/1.1 200 OK\r\n", True), (b"HTTP/1.1 500 Internal Server Error\r\n", False)],
)
async def test_docker_probe_asks_the_socket_for_ping(
    tmp_path: Path, status_line: bytes, expected: bool
) -> None:
    async def engine(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(status_line + b"Content-Length: 2\r\n\r\nOK")
        writer.close()

    path = tmp_path / "engine.sock"
    server = await asyncio.start_unix_server(engine, str(path))
    try:
        assert await DockerWatcher(url=f"unix://{path}").probe() is expected
    finally:
        server.close()


@pytest.mark.parametrize("url", ["unix:///nonexistent/docker.sock", "tcp://127.0.0.1:1"])
async def test_docker_probe_of_a_missing_engine_is_false(url: str) -> None:
    assert await DockerWatcher(url=url).probe() is False
