"""Fixtures for the cluster tests: one real three-member etcd cluster per module, and dnsd
processes acting as cluster nodes (each test uses its own zone, so its keys are its own)."""

from __future__ import annotations

import json
import os
import shutil
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import dns.rcode
import pytest

from tests.cluster.etcd_cluster import EtcdCluster
from tests.docker_support import lab, test_image
from tests.serve_process import Served, dnsd_serve

__all__ = ["lab", "test_image"]

LEASE_TTL = 2


@pytest.fixture(scope="module")
def etcd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdCluster]:
    if not (shutil.which("etcd") and shutil.which("etcdctl")):
        message = "etcd is not installed (scripts/install-system-packages installs etcd-server)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = EtcdCluster(tmp_path_factory.mktemp("etcd"))
    try:
        cluster.start()
        cluster.wait_healthy()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def zone() -> str:
    return "z" + uuid.uuid4().hex[:8]


NodeFactory = Callable[..., AbstractContextManager[Served]]


@pytest.fixture
def node(etcd: EtcdCluster, zone: str, tmp_path: Path) -> NodeFactory:
    """`node("a", "--records", path, etcd_urls=...)`: a dnsd process as cluster node "a"."""

    def start(
        name: str, *args: str, etcd_urls: str | None = None
    ) -> AbstractContextManager[Served]:
        flags = [
            "--domain", zone, "--node", name, "--advertise-ip", "127.0.0.1",
            "--cluster-etcd", etcd_urls or etcd.endpoints,
            "--cluster-lease-ttl", str(LEASE_TTL), *args,
        ]  # fmt: skip
        if "--docker" not in args:
            flags.append("--no-docker")
        return dnsd_serve(flags, tmp_path, http=True)

    return start


def records(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.hosts"
    path.write_text(text)
    return path


def answer(served: Served, name: str, qtype: str = "A") -> list[str] | None:
    """The answer's records as text (sorted), [] for NOERROR without data, None for NXDOMAIN."""
    reply = served.query(name, qtype)
    if reply.rcode() == dns.rcode.NXDOMAIN:
        return None
    return sorted(r.to_text() for rrset in reply.answer for r in rrset)


def http_get(served: Served, path: str) -> Any:
    url = f"http://127.0.0.1:{served.http_port}{path}"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def cluster_health(served: Served) -> dict[str, Any]:
    return dict(http_get(served, "/health")["cluster"])


def wait_for(
    check: Callable[[], object], what: str, *nodes: Served, timeout: float = 20.0
) -> float:
    """Poll `check` until truthy; returns the seconds it took. Fails with the nodes' logs."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            logs = "\n".join(n.log()[-4000:] for n in nodes)
            pytest.fail(f"not within {timeout}s: {what}\n{logs}")
        time.sleep(0.02)
    return time.monotonic() - start
