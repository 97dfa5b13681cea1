"""Configuration: defaults, then DNSD_* environment variables, then flags.

The only module that reads the environment. `load(args, environ)` returns a
frozen, validated `Config` or raises `ConfigError` with one line naming the
setting, the value and what is accepted. No other I/O besides checking that
named files are readable.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from dnsd.flags import AUTO, FLAGS, SPECIAL, Flag, add_serve_arguments, env_name
from dnsd.parsers import HostPort
from registry import UnhealthyPolicy


class ConfigError(ValueError):
    """A setting has a value dnsd cannot use; str() is the one-line message."""


@dataclass(frozen=True)
class Config:
    """Every setting of `dnsd serve`, validated."""

    dns_listen: tuple[HostPort, ...] | None = None  # None means auto
    domain: str = "docker"
    bare_names: bool = True
    ttl: int = 5
    negative_ttl: int = 5
    records: tuple[Path, ...] = ()
    unhealthy: UnhealthyPolicy = UnhealthyPolicy.SERVE_ALL
    docker: bool = True
    docker_url: str | None = None
    host_ip: str | None = None
    swarm: str = "auto"
    upstreams: tuple[HostPort, ...] | None = None  # None means /etc/resolv.conf
    upstream_timeout: float = 1.0
    forward_deadline: float = 3.0
    forward_max_in_flight: int | None = None  # None means auto: 150 per upstream, fit to fds
    cache_size: int = 10_000
    cache_max_ttl: int = 3600
    serve_stale: bool = False
    allow_recursion: tuple[str, ...] | None = None  # None means loopback + Docker networks
    http_listen: HostPort | None = ("127.0.0.1", 8053)
    api_token: str | None = None
    log_level: str = "info"
    log_format: str = "text"
    query_log: bool = False
    tcp_idle_timeout: float = 10.0
    tcp_max_connections: int = 256
    tcp_message_timeout: float = 2.0
    max_udp_size: int = 1232
    event_loop: str = "auto"
    user: str | None = None  # drop to this user after binding (see dnsd.privileges)
    history_size: int = 1000
    cluster_etcd: tuple[str, ...] = ()  # empty: single-host mode
    node: str | None = None  # None: the host name
    advertise_ip: str | None = None  # None: the address that routes to the first etcd
    etcd_cacert: Path | None = None
    etcd_cert: Path | None = None
    etcd_key: Path | None = None
    etcd_user: str | None = None
    etcd_password: str | None = None
    etcd_insecure: bool = False
    etcd_max_txn_ops: int = 128
    cluster_publish: tuple[str, ...] = ("docker",)
    cluster_lease_ttl: int = 10
    cluster_keep_remote: float = 300.0
    udp_batch: int = 32
    workers: int = 1

    @property
    def zone(self) -> str:
        """The served zone as an absolute, lower-case name ("docker.")."""
        return self.domain + "."


def _parse_one(flag: Flag, raw: str, where: str) -> object:
    try:
        return flag.parse(raw)
    except ValueError as exc:
        raise ConfigError(f"{where} {raw!r}: {exc}") from None


def _value(flag: Flag, raw: object, where: str) -> object:
    if isinstance(raw, bool):
        return raw
    if flag.repeat:
        items = raw if isinstance(raw, list) else [p for p in str(raw).replace(",", " ").split()]
        if flag.split:
            items = [p for item in items for p in str(item).replace(",", " ").split()]
        if flag.field in SPECIAL and items == [SPECIAL[flag.field]]:
            return None
        if flag.field in SPECIAL and SPECIAL[flag.field] in items:
            special = SPECIAL[flag.field]
            raise ConfigError(f"{where} {special!r}: cannot be combined with other addresses")
        return tuple(_parse_one(flag, str(item), where) for item in items)
    if flag.field in SPECIAL and raw == SPECIAL[flag.field]:
        return None
    return _parse_one(flag, str(raw), where)


def load(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> Config:
    """Build the Config from defaults, DNSD_* variables and parsed flags (flags win)."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for flag in FLAGS:
        name = env_name(flag)
        if name in environ and environ[name] != "":
            raw_env: object = environ[name]
            if flag.boolean:
                raw_env = _parse_one(flag, str(raw_env), name)
            values[flag.field] = _value(flag, raw_env, name)
        raw = getattr(args, flag.field, None)
        if raw is not None:
            values[flag.field] = _value(flag, raw, flag.flag)
    config = Config(**values)  # type: ignore[arg-type]
    _check(config)
    return config


def _check(config: Config) -> None:
    if config.forward_deadline < config.upstream_timeout:
        raise ConfigError(
            f"--forward-deadline {config.forward_deadline}: must be at least "
            f"--upstream-timeout ({config.upstream_timeout})"
        )
    _check_cluster(config)


def _check_cluster(config: Config) -> None:
    """Plaintext only to loopback etcd unless --etcd-insecure; TLS files and credentials paired."""
    if (config.etcd_cert is None) != (config.etcd_key is None):
        raise ConfigError("--etcd-cert/--etcd-key: give both or neither")
    if (config.etcd_user is None) != (config.etcd_password is None):
        raise ConfigError("--etcd-user/--etcd-password: give both or neither")
    for url in config.cluster_etcd:
        host = urlsplit(url).hostname or ""
        if url.startswith("http://") and not _is_loopback(host) and not config.etcd_insecure:
            raise ConfigError(
                f"--cluster-etcd {url!r}: plaintext to a non-loopback etcd; use https:// "
                "(with --etcd-cacert) or accept the risk with --etcd-insecure"
            )


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def parse_serve_args(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> Config:
    """Convenience for tests: parse `dnsd serve` flags into a Config."""
    parser = argparse.ArgumentParser(prog="dnsd serve")
    add_serve_arguments(parser)
    return load(parser.parse_args(list(argv)), environ)


DEFAULT_API_URL = "http://127.0.0.1:8053"


def client_api_url(environ: Mapping[str, str] | None = None) -> str:
    """The HTTP API client commands talk to: env DNSD_API, else the default listen address."""
    environ = os.environ if environ is None else environ
    return environ.get("DNSD_API") or DEFAULT_API_URL


def notify_socket(environ: Mapping[str, str] | None = None) -> str | None:
    """systemd's NOTIFY_SOCKET (a path or an '@abstract' name), or None when not under systemd."""
    environ = os.environ if environ is None else environ
    return environ.get("NOTIFY_SOCKET") or None


def host_dns_domain(flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The zone `dnsd host-dns` routes: --domain, else DNSD_DOMAIN (as `serve` reads it)."""
    environ = os.environ if environ is None else environ
    raw, where = (
        (flag, "--domain") if flag else (environ.get("DNSD_DOMAIN") or "docker", "DNSD_DOMAIN")
    )
    flag_row = next(f for f in FLAGS if f.field == "domain")
    return str(_parse_one(flag_row, raw, where))


def client_dns_listen(environ: Mapping[str, str] | None = None) -> str | None:
    """The first DNS listen address in env DNSD_DNS_LISTEN ('auto' and unset: None)."""
    environ = os.environ if environ is None else environ
    first = (environ.get("DNSD_DNS_LISTEN") or "").replace(",", " ").split()[:1]
    return first[0] if first and first[0] != AUTO else None
