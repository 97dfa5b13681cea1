"""TLS with a client certificate and etcd user/password auth, against a real etcd that
demands both: two dnsd nodes see each other; a wrong password is a clear, reported error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.conftest import answer, cluster_health, records, wait_for
from tests.cluster.etcd_cluster import EtcdCluster, make_tls
from tests.serve_process import dnsd_serve


@pytest.fixture
def secure_etcd(etcd: EtcdCluster, tmp_path: Path) -> Iterator[EtcdCluster]:
    """One TLS member with client-certificate and password auth (after the module's cluster
    fixture, which checks that etcd is installed)."""
    certs = tmp_path / "certs"
    certs.mkdir()
    cluster = EtcdCluster(tmp_path / "secure", size=1, tls=make_tls(certs))
    try:
        cluster.start()
        cluster.wait_healthy()
        cluster.ctl("user", "add", "root", "--new-user-password", "s3cret")
        cluster.ctl("auth", "enable")
        yield cluster
    finally:
        cluster.stop()


def test_tls_and_password_auth(secure_etcd: EtcdCluster, zone: str, tmp_path: Path) -> None:
    tls = secure_etcd.tls
    assert tls is not None

    def flags(node: str, password: str) -> list[str]:
        hosts = records(tmp_path, node, f"10.5.0.{len(node)} {node}-web\n")
        return [
            "--no-docker", "--domain", zone, "--node", node, "--advertise-ip", "127.0.0.1",
            "--cluster-etcd", secure_etcd.endpoints, "--cluster-lease-ttl", "2",
            "--etcd-cacert", str(tls.ca), "--etcd-cert", str(tls.client_cert),
            "--etcd-key", str(tls.client_key), "--etcd-user", "root", "--etcd-password", password,
            "--cluster-publish", "file", "--records", str(hosts),
        ]  # fmt: skip

    with (
        dnsd_serve(flags("a", "s3cret"), tmp_path, http=True) as a,
        dnsd_serve(flags("bb", "s3cret"), tmp_path, http=True) as b,
        dnsd_serve(flags("ccc", "wrong"), tmp_path, http=True) as c,
    ):
        wait_for(lambda: answer(b, f"a-web.{zone}.") == ["10.5.0.1"], "b sees a over TLS", a, b)
        wait_for(lambda: answer(a, f"bb-web.{zone}.") == ["10.5.0.2"], "a sees b over TLS", a, b)
        wait_for(lambda: "authentication failed" in cluster_health(c)["last_error"], "c refused", c)
        assert cluster_health(c)["state"] != "connected"  # retrying: connecting or disconnected
        assert answer(a, f"ccc-web.{zone}.") is None
