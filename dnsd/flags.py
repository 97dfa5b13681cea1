"""The flag table of `dnsd serve`: every setting's flag, its Config field, its parser and help.

One row per setting; `dnsd.config` turns rows, DNSD_* variables and defaults into a `Config`.
Adding a setting is one row here and one field on `Config`. No environment, no I/O.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from dnsd.parsers import (
    choice,
    float_in_range,
    int_in_range,
    parse_bool,
    parse_cidr,
    parse_docker_url,
    parse_domain,
    parse_etcd_url,
    parse_host_port,
    parse_ip,
    parse_listen,
    parse_node_name,
    parse_publish,
    parse_readable_file,
    parse_upstream,
    parse_user,
)
from registry import UnhealthyPolicy

AUTO = "auto"


# -- the flag table ---------------------------------------------------------


@dataclass(frozen=True)
class Flag:
    """One setting: its flag, its field, how to parse it, and whether it repeats."""

    flag: str
    field: str
    parse: Callable[[str], object]
    help: str
    repeat: bool = False
    boolean: bool = False
    split: bool = False  # a repeated flag's value may itself be a comma-separated list


FLAGS: tuple[Flag, ...] = (
    Flag(
        "--dns-listen",
        "dns_listen",
        parse_listen,
        "DNS listen address IP[:PORT], repeatable; "
        "'auto' = 127.0.0.1:53 and the docker0 gateway:53",
        repeat=True,
    ),
    Flag("--domain", "domain", parse_domain, "zone dnsd is authoritative for (default docker)"),
    Flag(
        "--bare-names",
        "bare_names",
        parse_bool,
        "also answer single-label names (default on)",
        boolean=True,
    ),
    Flag("--ttl", "ttl", int_in_range(1, 604800), "TTL of local answers in seconds (default 5)"),
    Flag(
        "--negative-ttl",
        "negative_ttl",
        int_in_range(1, 604800),
        "SOA minimum: TTL of NXDOMAIN/NODATA (default 5)",
    ),
    Flag(
        "--records",
        "records",
        parse_readable_file,
        "static records file (hosts format), reloaded on change; repeatable",
        repeat=True,
    ),
    Flag(
        "--when-all-unhealthy",
        "unhealthy",
        lambda t: UnhealthyPolicy(choice("serve-all", "empty")(t)),
        "when every endpoint of a name is unhealthy: serve-all (default) or empty",
    ),
    Flag("--docker", "docker", parse_bool, "watch the Docker engine (default on)", boolean=True),
    Flag(
        "--docker-url",
        "docker_url",
        parse_docker_url,
        "Docker engine URL (default DOCKER_HOST or unix:///var/run/docker.sock)",
    ),
    Flag(
        "--host-ip",
        "host_ip",
        parse_ip,
        "address answered for host-network containers (default: docker0 gateway)",
    ),
    Flag(
        "--swarm",
        "swarm",
        choice("auto", "on", "off"),
        "watch Docker Swarm services and tasks: auto (when the engine is a Swarm manager), "
        "on or off (default auto)",
    ),
    Flag(
        "--upstream",
        "upstreams",
        parse_upstream,
        "upstream resolver HOST[:PORT], repeatable (default: /etc/resolv.conf)",
        repeat=True,
    ),
    Flag(
        "--upstream-timeout",
        "upstream_timeout",
        float_in_range(0.05, 30.0),
        "per-attempt upstream timeout in seconds (default 1)",
    ),
    Flag(
        "--forward-deadline",
        "forward_deadline",
        float_in_range(0.1, 30.0),
        "overall deadline for a forwarded query in seconds (default 3)",
    ),
    Flag(
        "--forward-max-in-flight",
        "forward_max_in_flight",
        int_in_range(1, 1_000_000),
        "forwarded queries that may wait for upstreams at once; beyond it SERVFAIL at once "
        "(default auto: 150 per upstream, lowered to fit the open-files limit)",
    ),
    Flag(
        "--cache-size",
        "cache_size",
        int_in_range(0, 10_000_000),
        "forwarding cache entries (default 10000; 0 disables)",
    ),
    Flag(
        "--cache-max-ttl",
        "cache_max_ttl",
        int_in_range(1, 604800),
        "cap on cached TTLs in seconds (default 3600)",
    ),
    Flag(
        "--serve-stale",
        "serve_stale",
        parse_bool,
        "answer expired cache entries while upstreams are down (RFC 8767; default off)",
        boolean=True,
    ),
    Flag(
        "--allow-recursion",
        "allow_recursion",
        parse_cidr,
        "CIDR allowed to use forwarding, repeatable (default loopback + Docker networks)",
        repeat=True,
    ),
    Flag(
        "--http-listen",
        "http_listen",
        lambda t: parse_host_port(t, 8053),
        "HTTP API address HOST:PORT (default 127.0.0.1:8053; 'off' disables)",
    ),
    Flag("--api-token", "api_token", str, "bearer token enabling PUT/DELETE /v1/static"),
    Flag(
        "--log-level",
        "log_level",
        choice("debug", "info", "warning", "error"),
        "log level (default info)",
    ),
    Flag("--log-format", "log_format", choice("text", "json"), "log format (default text)"),
    Flag("--query-log", "query_log", parse_bool, "log every query (default off)", boolean=True),
    Flag(
        "--tcp-idle-timeout",
        "tcp_idle_timeout",
        float_in_range(0.1, 3600.0),
        "close idle TCP connections after this many seconds (default 10)",
    ),
    Flag(
        "--tcp-max-connections",
        "tcp_max_connections",
        int_in_range(1, 100_000),
        "maximum concurrent TCP connections (default 256)",
    ),
    Flag(
        "--tcp-message-timeout",
        "tcp_message_timeout",
        float_in_range(0.1, 60.0),
        "close a TCP connection whose message is not complete this many seconds after its "
        "first byte (default 2)",
    ),
    Flag(
        "--max-udp-size",
        "max_udp_size",
        int_in_range(512, 4096),
        "largest UDP reply even if the client offers more (default 1232)",
    ),
    Flag(
        "--event-loop",
        "event_loop",
        choice("auto", "asyncio", "uvloop"),
        "event loop: auto (uvloop when installed), asyncio or uvloop",
    ),
    Flag(
        "--udp-batch",
        "udp_batch",
        int_in_range(0, 1024),
        "UDP datagrams per recvmmsg/sendmmsg call on Linux (default 32; 0 = one per call)",
    ),
    Flag(
        "--workers",
        "workers",
        int_in_range(1, 64),
        "processes answering DNS on the same ports with SO_REUSEPORT (default 1)",
    ),
    Flag(
        "--user",
        "user",
        parse_user,
        "as root: drop to this user (name or uid) after binding, keeping the Docker socket's group",
    ),
    Flag(
        "--history-size",
        "history_size",
        int_in_range(0, 1_000_000),
        "registry changes kept for /v1/events and the status page (default 1000)",
    ),
)

CLUSTER_FLAGS: tuple[Flag, ...] = (
    Flag(
        "--cluster-etcd",
        "cluster_etcd",
        parse_etcd_url,
        "etcd v3 client URLs, comma-separated or repeated: turns on multi-host mode",
        repeat=True,
        split=True,
    ),
    Flag("--node", "node", parse_node_name, "this host's cluster node name (default: host name)"),
    Flag(
        "--advertise-ip",
        "advertise_ip",
        parse_ip,
        "address other hosts reach this host on (default: the one routing to etcd)",
    ),
    Flag("--etcd-cacert", "etcd_cacert", parse_readable_file, "CA bundle for https:// etcd"),
    Flag("--etcd-cert", "etcd_cert", parse_readable_file, "client certificate for etcd"),
    Flag("--etcd-key", "etcd_key", parse_readable_file, "client key for etcd"),
    Flag("--etcd-user", "etcd_user", str, "etcd user name (with --etcd-password)"),
    Flag("--etcd-password", "etcd_password", str, "etcd password (prefer DNSD_ETCD_PASSWORD)"),
    Flag(
        "--etcd-insecure",
        "etcd_insecure",
        parse_bool,
        "allow plaintext http:// to a non-loopback etcd (default off)",
        boolean=True,
    ),
    Flag(
        "--etcd-max-txn-ops",
        "etcd_max_txn_ops",
        int_in_range(8, 1_000_000),
        "operations per etcd transaction, etcd's --max-txn-ops (default 128)",
    ),
    Flag(
        "--cluster-publish",
        "cluster_publish",
        parse_publish,
        "local sources published to other hosts: docker, file, api (default docker)",
        repeat=True,
        split=True,
    ),
    Flag(
        "--cluster-lease-ttl",
        "cluster_lease_ttl",
        int_in_range(2, 3600),
        "seconds this node's records outlive it in etcd (default 10)",
    ),
    Flag(
        "--cluster-keep-remote",
        "cluster_keep_remote",
        float_in_range(0.0, 86400.0),
        "seconds other hosts' names are still answered while etcd is unreachable (default 300)",
    ),
)
FLAGS = FLAGS + CLUSTER_FLAGS

SPECIAL = {"dns_listen": AUTO, "http_listen": "off", "forward_max_in_flight": AUTO}


def env_name(flag: Flag) -> str:
    return "DNSD_" + flag.flag.removeprefix("--").replace("-", "_").upper()


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every flag on `parser` (as raw strings; `load` validates)."""
    for flag in FLAGS:
        helptext = f"{flag.help} [env {env_name(flag)}]"
        if flag.boolean:
            parser.add_argument(
                flag.flag,
                dest=flag.field,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=helptext,
            )
        elif flag.repeat:
            parser.add_argument(
                flag.flag,
                dest=flag.field,
                action="append",
                default=None,
                metavar="VALUE",
                help=helptext,
            )
        else:
            parser.add_argument(
                flag.flag, dest=flag.field, default=None, metavar="VALUE", help=helptext
            )
