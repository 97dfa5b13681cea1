"""Issue 9, item 13 with a real engine: after an outage longer than the old 30 s backoff cap,
during which a container died, dnsd resyncs within about a second of the engine answering.

A PRIVATE second dockerd (own socket, data-root, exec-root, pidfile, containerd namespace;
a bridge of its own, no iptables) is stopped and started, so the shared engine is never touched.
Not `--bridge none`: that makes dockerd delete the host's `docker0`, the shared engine's default
bridge. The containers use host networking and get the watcher's --host-ip address.
Whatever happens, the fixture removes the containers and stops the daemon.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from registry import Store
from tests.docker_support import IMAGE, docker, eventually
from watchers.base import Supervisor, WatcherState
from watchers.docker_watcher import DockerWatcher

pytestmark = pytest.mark.docker

RUN = Path("/run/dnsd-hardfwd")
SOCKET, PIDFILE, CONFIG = RUN / "docker.sock", RUN / "docker.pid", RUN / "daemon.json"
URL = f"unix://{SOCKET}"
BRIDGE, BRIDGE_CIDR = "dnsd-hf0", "10.213.77.1/24"  # the private engine's own bridge
OUTAGE = 35.0  # longer than the old 30 s reconnect backoff cap


class PrivateEngine:
    """A second dockerd on paths of its own, started and stopped by the test."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def docker(self, *args: str, check: bool = True) -> str:
        return docker("-H", URL, *args, check=check, timeout=120)

    def answers(self) -> bool:
        return subprocess.run(["docker", "-H", URL, "version"], capture_output=True).returncode == 0

    def start(self) -> None:
        RUN.mkdir(parents=True, exist_ok=True)
        _ensure_bridge()
        CONFIG.write_text("{}\n")
        argv = [
            "dockerd", "-H", URL, "--data-root", "/var/lib/dnsd-hardfwd",
            "--exec-root", str(RUN / "exec"), "--pidfile", str(PIDFILE),
            "--config-file", str(CONFIG), "--bridge", BRIDGE, "--iptables=false",
            "--live-restore", "--containerd-namespace", "dnsd-hardfwd",
            "--containerd-plugins-namespace", "dnsd-hardfwd-plugins",
        ]  # fmt: skip
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=out, start_new_session=True)
        end = time.monotonic() + 60
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > end:
                raise RuntimeError(
                    f"private dockerd did not start:\n{self.log.read_text()[-2000:]}"
                )
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def load_image(self) -> None:
        held = ["docker", "-H", URL, "image", "inspect", IMAGE]
        if subprocess.run(held, capture_output=True).returncode == 0:  # not stdout: "[]" if not
            return
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        subprocess.run(["docker", "-H", URL, "load"], stdin=save.stdout, check=True,
                       capture_output=True, timeout=120)  # fmt: skip
        save.wait(60)

    def teardown(self) -> None:
        """Remove every container of this daemon (all are ours) and stop it."""
        try:
            if self.process is None:
                self.start()  # containers outlive a stopped daemon (live-restore)
            ids = self.docker("ps", "-aq", check=False).split()
            if ids:
                self.docker("rm", "-f", *ids, check=False)
        finally:
            self.stop()
            subprocess.run(["ip", "link", "del", BRIDGE], capture_output=True, check=False)


def _ensure_bridge() -> None:
    """Create the private engine's bridge (once); dockerd only uses it."""
    if subprocess.run(["ip", "link", "show", BRIDGE], capture_output=True).returncode == 0:
        return
    for argv in (
        ["ip", "link", "add", BRIDGE, "type", "bridge"],
        ["ip", "addr", "add", BRIDGE_CIDR, "dev", BRIDGE],
        ["ip", "link", "set", BRIDGE, "up"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


@pytest.fixture
def engine(test_image: str, tmp_path: Path) -> Iterator[PrivateEngine]:
    if shutil.which("dockerd") is None or os.geteuid() != 0:
        pytest.skip("needs dockerd and root to run a private engine")
    private = PrivateEngine(tmp_path / "dockerd.log")
    try:
        private.start()
        private.load_image()
        yield private
    finally:
        private.teardown()


@pytest.fixture
async def watching(engine: PrivateEngine) -> AsyncIterator[tuple[Store, Supervisor]]:
    store = Store()
    supervisor = Supervisor(DockerWatcher(url=URL, host_ip="192.0.2.53"), store.apply)
    task = asyncio.create_task(supervisor.run())  # the production backoff: 0.5 s up to 30 s
    try:
        yield store, supervisor
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_resync_within_a_second_of_the_engine_returning(
    engine: PrivateEngine, watching: tuple[Store, Supervisor]
) -> None:
    store, supervisor = watching
    tag = "dnsdtest-" + uuid.uuid4().hex[:8]
    keep, doomed = f"{tag}-keep", f"{tag}-doomed"
    for name in (keep, doomed):
        engine.docker("run", "-d", "--network", "host", "--name", name, IMAGE, "sleep", "600")
    doomed_pid = int(engine.docker("inspect", "-f", "{{.State.Pid}}", doomed))

    def names() -> set[str]:
        return set(store.snapshot.names())

    await eventually(lambda: {keep, doomed} <= names(), "both containers resolve", timeout=30)

    await asyncio.to_thread(engine.stop)
    status = supervisor.status
    await eventually(lambda: status.state is WatcherState.BACKING_OFF, "the loss is noticed")
    os.kill(doomed_pid, signal.SIGKILL)  # dies while nobody watches
    await asyncio.sleep(OUTAGE)
    assert doomed in names()  # meanwhile answers come from the last known state

    await asyncio.to_thread(engine.start)
    answered = time.monotonic()
    await eventually(
        lambda: (
            status.state is WatcherState.CONNECTED and keep in names() and doomed not in names()
        ),
        "resynced soon after the engine answers (the old backoff took up to 30 s)",
        timeout=5.0,
    )
    print(f"resynced {time.monotonic() - answered:.2f}s after the engine answered")
