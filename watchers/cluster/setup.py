"""Building a cluster member from plain settings: defaults for the node name and address.

`member_from(...)` is what the composition root calls (it never sees aetcd). The node name
defaults to the host name as one DNS label; the advertised address to the local address
the kernel would use towards the first etcd endpoint. No I/O beyond a UDP `connect`
(which sends nothing) and a host-name lookup.
"""

from __future__ import annotations

import logging
import re
import socket
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from watchers.cluster.etcd import EtcdSettings
from watchers.cluster.member import ClusterMember, ClusterSettings

log = logging.getLogger(__name__)


def default_node_name() -> str:
    """The host name as one DNS label (`Web-01.example` -> `web-01`)."""
    label = re.sub(r"[^a-z0-9_-]+", "-", socket.gethostname().split(".")[0].lower()).strip("-")
    return label[:63] or "node"


def route_source(url: str) -> str:
    """The local address the kernel would use to reach `url` (a UDP connect sends nothing)."""
    host = urlsplit(url).hostname or "127.0.0.1"
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect((host, 9))
            return str(sock.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def member_from(
    endpoints: Sequence[str],
    zone: str,
    *,
    node: str | None,
    advertise_ip: str | None,
    tls: tuple[Path | None, Path | None, Path | None] = (None, None, None),
    credentials: tuple[str | None, str | None] = (None, None),
    max_txn_ops: int = 128,
    lease_ttl: int = 10,
    keep_remote: float = 300.0,
    publish: Sequence[str] = ("docker",),
) -> ClusterMember:
    """The member for these settings; `tls` is (CA, client cert, client key)."""
    etcd = EtcdSettings(
        tuple(endpoints), tls[0], tls[1], tls[2], credentials[0], credentials[1], max_txn_ops
    )
    settings = ClusterSettings(
        etcd=etcd,
        zone=zone,
        node=node or default_node_name(),
        advertise_ip=advertise_ip or route_source(endpoints[0]),
        lease_ttl=lease_ttl,
        keep_remote=keep_remote,
        publish=tuple(publish),
    )
    log.info(
        "cluster: node %s, advertising %s, etcd %s",
        settings.node,
        settings.advertise_ip,
        ", ".join(endpoints),
    )
    return ClusterMember(settings)
