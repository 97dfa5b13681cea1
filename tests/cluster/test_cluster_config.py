"""Multi-host flags: accepted forms, and refusals that name the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from dnsd.config import ConfigError, parse_serve_args

ETCD = "http://127.0.0.1:2379"


@pytest.mark.parametrize(
    ("argv", "environ", "field", "value"),
    [
        ([], {}, "cluster_etcd", ()),
        (["--cluster-etcd", "http://127.0.0.1:2379,http://127.0.0.2:2379"], {}, "cluster_etcd",
         ("http://127.0.0.1:2379", "http://127.0.0.2:2379")),
        ([], {"DNSD_CLUSTER_ETCD": "http://[::1]:2379 http://localhost:2379"}, "cluster_etcd",
         ("http://[::1]:2379", "http://localhost:2379")),
        (["--cluster-etcd", "http://10.0.0.5:2379", "--etcd-insecure"], {}, "etcd_insecure", True),
        (["--cluster-etcd", "https://10.0.0.5:2379"], {}, "cluster_etcd", ("https://10.0.0.5:2379",)),
        (["--node", "Web-01"], {}, "node", "web-01"),
        (["--advertise-ip", "192.0.2.7"], {}, "advertise_ip", "192.0.2.7"),
        (["--cluster-publish", "docker,file", "--cluster-publish", "api"], {}, "cluster_publish",
         ("docker", "file", "api")),
        (["--cluster-lease-ttl", "3"], {}, "cluster_lease_ttl", 3),
        ([], {"DNSD_CLUSTER_KEEP_REMOTE": "60"}, "cluster_keep_remote", 60.0),
        ([], {"DNSD_ETCD_USER": "dnsd", "DNSD_ETCD_PASSWORD": "s3cret"}, "etcd_password", "s3cret"),
    ],
)  # fmt: skip
def test_cluster_settings(
    argv: list[str], environ: dict[str, str], field: str, value: object
) -> None:
    assert getattr(parse_serve_args(argv, environ), field) == value


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--cluster-etcd", "http://10.0.0.5:2379"], "'http://10.0.0.5:2379': plaintext"),
        (["--cluster-etcd", "10.0.0.5:2379"], "expected http://HOST:PORT"),
        (["--cluster-etcd", "ftp://10.0.0.5:2379"], "expected http://HOST:PORT"),
        (["--node", "a.b"], "--node 'a.b': expected one DNS label"),
        (["--advertise-ip", "host"], "--advertise-ip 'host': expected an IPv4 or IPv6"),
        (["--cluster-publish", "swarm"], "expected one of docker, file, api"),
        (["--cluster-lease-ttl", "1"], "--cluster-lease-ttl '1'"),
        (["--etcd-user", "dnsd"], "--etcd-user/--etcd-password: give both"),
    ],
)  # fmt: skip
def test_cluster_refusals_name_the_setting(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_serve_args(argv, {})
    assert message in str(info.value)


def test_client_certificate_needs_its_key(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    cert.write_text("x")
    with pytest.raises(ConfigError, match="--etcd-cert/--etcd-key: give both"):
        parse_serve_args(["--cluster-etcd", ETCD, "--etcd-cert", str(cert)], {})
