"""Configuration: defaults, then DNSD_* environment variables, then flags.

The only module that reads the environment. `load(args, environ)` returns a
frozen, validated `Config` or raises `ConfigError` with one line naming the
setting, the value and what is accepted. No other I/O besides checking that
named files are readable.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from dnsd.parsers import (
    HostPort,
    choice,
    float_in_range,
    int_in_range,
    parse_bool,
    parse_cidr,
    parse_docker_url,
    parse_domain,
    parse_host_port,
    parse_ip,
    parse_readable_file,
    parse_upstream,
)
from registry import UnhealthyPolicy

AUTO = "auto"


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
    upstreams: tuple[HostPort, ...] | None = None  # None means /etc/resolv.conf
    upstream_timeout: float = 1.0
    forward_deadline: float = 3.0
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
    max_udp_size: int = 1232
    event_loop: str = "auto"
    udp_batch: int = 32
    workers: int = 1

    @property
    def zone(self) -> str:
        """The served zone as an absolute, lower-case name ("docker.")."""
        return self.domain + "."


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


FLAGS: tuple[Flag, ...] = (
    Flag(
        "--dns-listen",
        "dns_listen",
        parse_host_port,
        "DNS listen address HOST:PORT, repeatable; "
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
)

SPECIAL = {"dns_listen": AUTO, "http_listen": "off"}


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
