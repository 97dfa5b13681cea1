"""`--workers N`: more processes answering DNS on the same ports, fed from one registry.

The parent process runs the watchers, the HTTP API and one DNS server; it starts N-1 worker
processes, each with its own `Store`, fast-path table and forwarder, bound to the same addresses
with SO_REUSEPORT so the kernel spreads clients over all of them. The parent sends a worker
every registry event (first a resync of each source, so a worker starts from the same snapshot)
and the current Docker subnets for the recursion ACL; the worker applies them in order and
acknowledges with the number applied, which is how the parent measures propagation.
It must not answer DNS in the parent or read the environment; workers run no watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from dnsd.config import Config
from dnsd.eventloop import run_loop
from dnsd.forward import Forwarder
from dnsd.ops.logs import setup_logging
from dnsd.ops.metrics import Metrics
from dnsd.parsers import HostPort
from dnsd.serve.listeners import DnsServer
from registry import Event, Networks, Resync, Snapshot, Store, Unsynced

log = logging.getLogger(__name__)

READY_SECONDS = 30.0
STOP_SECONDS = 3.0
SUBNET_CHECK_SECONDS = 1.0
Subnets = Callable[[], frozenset[str]]
ForwarderFactory = Callable[..., Forwarder]  # dnsd.app.build_forwarder
Message = tuple[Event | None, frozenset[str] | None]  # (registry event, Docker subnets)


@dataclass
class Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    applied: int = 0


@dataclass
class Propagation:
    """How long workers took to apply registry changes (send -> acknowledgement)."""

    changes: int = 0
    last_s: float = 0.0
    max_s: float = 0.0
    sent_at: dict[int, float] = field(default_factory=dict)


class WorkerPool:
    """N-1 worker processes and the pipes that keep their registries equal to the parent's."""

    def __init__(
        self,
        config: Config,
        store: Store,
        forwarders: ForwarderFactory,
        subnets: Subnets | None = None,
    ) -> None:
        self.config = config
        self._forwarders = forwarders  # a module-level function: spawn pickles it by name
        self.workers: list[Worker] = []
        self.propagation = Propagation()
        self._store = store
        self._subnets = subnets
        self._sent_subnets: frozenset[str] | None = None
        self._sent = 0
        self._unsubscribe: Callable[[], None] = lambda: None
        self._timer: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    async def start(self, listen: Sequence[HostPort]) -> None:
        """Start the workers on `listen` (bound ports) and send them the current registry."""
        context = multiprocessing.get_context("spawn")
        for _ in range(self.config.workers - 1):
            parent, child = context.Pipe()
            process = context.Process(
                target=worker_main,
                args=(self.config, list(listen), child, self._forwarders),
                daemon=True,
            )
            process.start()
            child.close()
            self.workers.append(Worker(process, parent))
        for worker in self.workers:
            ready = await asyncio.to_thread(worker.conn.poll, READY_SECONDS)
            if not ready or worker.conn.recv() != "ready":
                raise OSError(f"a DNS worker did not start within {READY_SECONDS:.0f} s")
        loop = asyncio.get_running_loop()
        for worker in self.workers:
            loop.add_reader(worker.conn.fileno(), self._acknowledged, worker)
        for event in resyncs(self._store.snapshot):
            self._send(event)
        self._send(None)  # the subnets, even if there is no endpoint yet
        self._unsubscribe = self._store.subscribe(self._changed)
        self._timer = asyncio.create_task(self._watch_subnets())

    def synced(self) -> bool:
        """True when every worker has applied everything sent so far."""
        return all(w.applied == self._sent for w in self.workers)

    async def wait_synced(self) -> None:
        """Return once every worker has applied everything sent so far."""
        while not self.synced():
            self._synced.clear()
            await self._synced.wait()

    async def stop(self) -> None:
        self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
        loop = asyncio.get_running_loop()
        for worker in self.workers:
            loop.remove_reader(worker.conn.fileno())
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.workers:
            await asyncio.to_thread(worker.process.join, STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
            worker.conn.close()

    # -- parent side ------------------------------------------------------------------------
    def _changed(self, snapshot: Snapshot, event: Event) -> None:
        self._send(event)

    def _send(self, event: Event | None) -> None:
        subnets = self._subnets() if self._subnets is not None else None
        message: Message = (event, subnets if subnets != self._sent_subnets else None)
        self._sent_subnets = subnets
        self._sent += 1
        self.propagation.sent_at[self._sent] = time.perf_counter()
        for worker in self.workers:
            try:
                worker.conn.send(message)  # small; a worker reads it from its own loop
            except OSError as exc:
                log.error("DNS worker %s is gone: %s", worker.process.pid, exc)

    def _acknowledged(self, worker: Worker) -> None:
        try:
            while worker.conn.poll():
                worker.applied = worker.conn.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
            log.error("DNS worker %s exited", worker.process.pid)
            return
        if not self.synced():
            return
        self._synced.set()
        sent_at = self.propagation.sent_at.pop(self._sent, None)
        self.propagation.sent_at.clear()
        if sent_at is not None:
            took = time.perf_counter() - sent_at
            self.propagation.changes += 1
            self.propagation.last_s = took
            self.propagation.max_s = max(self.propagation.max_s, took)

    async def _watch_subnets(self) -> None:
        """Docker networks can change without an endpoint event: pass new subnets on."""
        while True:
            await asyncio.sleep(SUBNET_CHECK_SECONDS)
            if self._subnets is not None and self._subnets() != self._sent_subnets:
                self._send(None)


def resyncs(snapshot: Snapshot) -> list[Event]:
    """What a new worker needs to hold `snapshot`: each source's networks (the isolation
    rule reads them), one resync per source, and the sources still pending."""
    by_source: dict[str, list[Any]] = {}
    for (source, _), endpoint in snapshot.endpoints.items():
        by_source.setdefault(source, []).append(endpoint)
    events: list[Event] = [Networks(s, n) for s, n in snapshot.network_sources().items()]
    events += [Resync(source, tuple(endpoints)) for source, endpoints in by_source.items()]
    return events + [Unsynced(source) for source in sorted(snapshot.pending)]


# -- worker side ------------------------------------------------------------------------------
def worker_main(
    config: Config, listen: list[HostPort], conn: Connection, forwarders: ForwarderFactory
) -> None:
    """The worker process: DNS on `listen` from a registry fed by the parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    setup_logging(config.log_level, config.log_format)
    run_loop(serve_worker(config, listen, conn, forwarders), config.event_loop)


class _Subnets:
    value: frozenset[str] = frozenset()

    def get(self) -> frozenset[str]:
        return self.value


async def serve_worker(
    config: Config, listen: list[HostPort], conn: Connection, forwarders: ForwarderFactory
) -> int:
    store, metrics, subnets = Store(), Metrics(), _Subnets()
    dynamic = subnets.get if config.docker and config.allow_recursion is None else None
    forwarder = forwarders(config, metrics, listen, [], store, subnets=dynamic)
    dns = DnsServer(config, store, metrics, forwarder)
    await dns.start(listen)
    conn.send("ready")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    applied = 0

    def receive() -> None:
        nonlocal applied
        try:
            while conn.poll():
                message: Message | None = conn.recv()
                if message is None:
                    stop.set()
                    return
                event, new_subnets = message
                if new_subnets is not None:
                    subnets.value = new_subnets
                if event is not None:
                    store.apply(event)
                applied += 1
            conn.send(applied)
        except (EOFError, OSError):  # the parent is gone
            stop.set()

    loop.add_reader(conn.fileno(), receive)
    await stop.wait()
    loop.remove_reader(conn.fileno())
    await dns.close()
    await forwarder.close()
    return 0
