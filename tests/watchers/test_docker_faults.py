"""The Docker watcher when the engine is missing, goes away, or restarts.

Most faults are made with a Unix-socket relay in front of the real engine
(start it late, cut it, bring it back) so other tests keep their engine. The
last test restarts the real dockerd once (with --live-restore containers
survive) and always brings it back in a finalizer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry import Snapshot
from tests.docker_support import (
    ROOT,
    DockerLab,
    Watched,
    cli,
    docker,
    engine_available,
    eventually,
    inspect,
    start_watching,
    stop_watching,
)
from watchers.base import WatcherState
from watchers.docker_watcher import DockerWatcher

pytestmark = pytest.mark.docker

ENGINE_SOCKET = "/var/run/docker.sock"


class SocketRelay:
    """A Unix socket that relays to the real engine while it is `up`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"unix://{self.path}"

    async def up(self) -> None:
        self._server = await asyncio.start_unix_server(self._relay, str(self.path))

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(ENGINE_SOCKET)
        self._writers |= {writer, up_writer}
        await asyncio.gather(_copy(reader, up_writer), _copy(up_reader, writer))


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


def names(snapshot: Snapshot) -> set[str]:
    return set(snapshot.names())


async def test_engine_missing_at_start_then_started(lab: DockerLab, tmp_path: Path) -> None:
    box = lab.run("box")
    relay = SocketRelay(tmp_path / "engine.sock")
    watched = await start_watching(DockerWatcher(url=relay.url))
    try:
        status = watched.supervisor.status
        await eventually(lambda: status.last_error, "the failure is reported")
        assert f"cannot reach the Docker engine at {relay.url}" in status.last_error
        assert "is dockerd running?" in status.last_error
        await eventually(lambda: status.state is WatcherState.BACKING_OFF, "it backs off")
        await relay.up()
        await eventually(
            lambda: watched.snapshot.has_name(box), "converges once the engine answers"
        )
        assert watched.supervisor.status.state is WatcherState.CONNECTED
    finally:
        await stop_watching(watched)
        await relay.down()


async def test_engine_lost_keeps_last_snapshot_and_resyncs(lab: DockerLab, tmp_path: Path) -> None:
    stays, leaves = lab.run("stays"), lab.run("leaves")
    relay = SocketRelay(tmp_path / "engine.sock")
    await relay.up()
    watched = await start_watching(DockerWatcher(url=relay.url))
    try:
        await eventually(lambda: {stays, leaves} <= names(watched.snapshot), "both resolve")
        await relay.down()
        status = watched.supervisor.status
        await eventually(lambda: status.state is WatcherState.BACKING_OFF, "loss is noticed")
        assert "Docker engine" in status.last_error
        await cli("rm", "-f", leaves)
        arrives = lab.run("arrives")
        assert {stays, leaves} <= names(watched.snapshot)  # DNS keeps the last known state
        await relay.up()
        await eventually(
            lambda: (
                {stays, arrives} <= names(watched.snapshot)
                and leaves not in names(watched.snapshot)
            ),
            "the resync after reconnect removes what died and adds what started",
        )
        assert status.resyncs >= 2
        assert status.reconnects >= 1
    finally:
        await stop_watching(watched)
        await relay.down()


async def test_bad_url_gives_a_clear_error() -> None:
    watched = await start_watching(DockerWatcher(url="tcp://127.0.0.1:1"))
    try:
        status = watched.supervisor.status
        await eventually(lambda: status.last_error, "the failure is reported")
        assert "cannot reach the Docker engine at tcp://127.0.0.1:1" in status.last_error
    finally:
        await stop_watching(watched)


async def test_cancel_closes_the_event_stream(watched: Watched) -> None:
    await asyncio.wait_for(stop_watching(watched), 10)
    assert watched.supervisor.status.state is WatcherState.STOPPED
    await eventually(
        lambda: not any(t.name == "dnsd-docker-events" for t in threading.enumerate()),
        "the event-stream thread ends once the stream is closed",
    )


# -- the real daemon restart: keep this test last -------------------------------


def _dockerd_pid() -> int:
    pids = subprocess.run(["pidof", "dockerd"], capture_output=True, text=True).stdout.split()
    if len(pids) != 1:
        pytest.skip(f"expected one dockerd process, found {pids}")
    return int(pids[0])


def _start_dockerd() -> None:
    subprocess.run(
        [str(ROOT / "scripts" / "start-dockerd")], check=True, timeout=90, start_new_session=True
    )


@pytest.fixture
def engine_restored() -> Iterator[None]:
    """Whatever happens in the test, leave a running engine behind."""
    try:
        yield
    finally:
        if not engine_available():
            _start_dockerd()


def _wait_exit(pid: int, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < end:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}"), "dockerd did not stop"


RESTART_OPT_IN = "DNSD_TEST_RESTART_DOCKERD"


@pytest.mark.skipif(
    not (os.environ.get("CI") or os.environ.get(RESTART_OPT_IN)),
    reason=f"restarts the shared dockerd: runs under CI, or locally with {RESTART_OPT_IN}=1",
)
async def test_dockerd_restart_converges(
    lab: DockerLab, watched: Watched, engine_restored: None
) -> None:
    live_restore = docker("info", "-f", "{{.LiveRestoreEnabled}}") == "true"
    keep, doomed = lab.run("keep"), lab.run("doomed")
    doomed_pid = int(inspect(doomed)["State"]["Pid"])
    await eventually(lambda: {keep, doomed} <= names(watched.snapshot), "both resolve")
    fresh = lab.run("fresh")  # started just before the daemon goes away

    dockerd = _dockerd_pid()
    os.kill(dockerd, signal.SIGTERM)
    await asyncio.to_thread(_wait_exit, dockerd)
    status = watched.supervisor.status
    await eventually(lambda: status.state is WatcherState.BACKING_OFF, "the loss is noticed")
    assert {keep, doomed} <= names(watched.snapshot)  # answers keep coming meanwhile
    if live_restore:
        os.kill(doomed_pid, signal.SIGKILL)  # dies while nobody watches
    await asyncio.to_thread(_start_dockerd)

    def converged() -> bool:
        running = set(docker("ps", "--format", "{{.Names}}", "--filter", f"name={lab.tag}").split())
        ours = {n for n in names(watched.snapshot) if n.startswith(lab.tag)}
        return status.state is WatcherState.CONNECTED and ours == running

    await eventually(converged, "the registry equals what the engine runs", timeout=60)
    assert doomed not in names(watched.snapshot)
    if live_restore:
        assert {keep, fresh} <= names(watched.snapshot)
