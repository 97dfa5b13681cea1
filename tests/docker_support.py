"""Shared helpers for tests that use the real Docker engine.

An engine check that fails under CI and skips elsewhere; the local test image;
uniquely named (`dnsdtest-<random>-...`) containers and networks that are
always removed; an in-process Docker watcher over a `Store`; and a poll helper.
Tests send traffic only to containers and networks they create.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from registry import Snapshot, Store
from watchers.base import Supervisor
from watchers.docker_watcher import DockerWatcher

ROOT = Path(__file__).resolve().parent.parent
IMAGE = "dnsd-test-busybox:latest"
PREFIX = "dnsdtest-"


def docker(*args: str, check: bool = True, timeout: float = 60) -> str:
    """Run the docker CLI and return its stripped stdout."""
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def engine_available() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def require_engine() -> None:
    """Fail under CI (the engine must be there), skip elsewhere, when no engine answers."""
    if engine_available():
        return
    message = "no Docker engine answers `docker info` (start one with scripts/start-dockerd)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def build_test_image() -> str:
    subprocess.run([str(ROOT / "scripts" / "build-test-image"), IMAGE], check=True, timeout=120)
    return IMAGE


def inspect(name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(docker("inspect", name))
    return data[0]


def ip_on(name: str, network: str) -> str:
    return str(inspect(name)["NetworkSettings"]["Networks"][network]["IPAddress"])


def gateway_of(network: str) -> str:
    """The gateway address of a network (the host's own address on it)."""
    config = json.loads(docker("network", "inspect", "-f", "{{json .IPAM.Config}}", network))
    return str(config[0]["Gateway"])


@dataclass
class DockerLab:
    """Creates uniquely named containers and networks and removes them all at the end."""

    tag: str = field(default_factory=lambda: PREFIX + uuid.uuid4().hex[:8])
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)

    def name(self, suffix: str) -> str:
        return f"{self.tag}-{suffix}"

    def run(self, suffix: str, *options: str, cmd: tuple[str, ...] = ("sleep", "600")) -> str:
        """`docker run -d --name <unique> OPTIONS image CMD`; returns the container name."""
        name = self.name(suffix)
        self.containers.append(name)
        docker("run", "-d", "--name", name, *options, IMAGE, *cmd)
        return name

    def network(self, suffix: str, *options: str) -> str:
        name = self.name(suffix)
        self.networks.append(name)
        docker("network", "create", *options, name)
        return name

    def cleanup(self) -> None:
        if self.containers:
            docker("rm", "-f", *self.containers, check=False)
        for network in self.networks:
            docker("network", "rm", network, check=False)


@pytest.fixture(scope="session")
def test_image() -> str:
    require_engine()
    return build_test_image()


@pytest.fixture
def lab(test_image: str) -> Iterator[DockerLab]:
    lab = DockerLab()
    try:
        yield lab
    finally:
        lab.cleanup()


@dataclass
class Watched:
    """A Docker watcher running in-process under a Supervisor, feeding a Store."""

    store: Store
    supervisor: Supervisor
    watcher: DockerWatcher

    @property
    def snapshot(self) -> Snapshot:
        return self.store.snapshot


async def start_watching(watcher: DockerWatcher, min_backoff: float = 0.2) -> Watched:
    store = Store()
    supervisor = Supervisor(watcher, store.apply, min_backoff=min_backoff, max_backoff=2.0)
    watched = Watched(store, supervisor, watcher)
    _TASKS[id(watched)] = asyncio.create_task(supervisor.run())
    return watched


async def stop_watching(watched: Watched) -> None:
    task = _TASKS.pop(id(watched), None)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


_TASKS: dict[int, asyncio.Task[None]] = {}


@pytest.fixture
async def watched(test_image: str) -> AsyncIterator[Watched]:
    """A watcher on the local engine that has done its first resync."""
    running = await start_watching(DockerWatcher())
    try:
        await asyncio.wait_for(running.supervisor.synced.wait(), 30)
        yield running
    finally:
        await stop_watching(running)


async def eventually(
    check: Callable[[], object], what: str, timeout: float = 20.0, interval: float = 0.02
) -> None:
    """Poll `check` until it is truthy; fail naming `what` after a generous timeout."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not check():
        if loop.time() > end:
            pytest.fail(f"not within {timeout}s: {what}")
        await asyncio.sleep(interval)


async def cli(*args: str) -> str:
    """The docker CLI off the event loop, so the watcher keeps running meanwhile."""
    return await asyncio.to_thread(docker, *args)
