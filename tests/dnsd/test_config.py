"""Settings: defaults, DNSD_* variables, flags (flags win), and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dnsd.config import ConfigError, parse_serve_args
from registry import UnhealthyPolicy


def test_defaults() -> None:
    config = parse_serve_args([], {})
    assert config.dns_listen is None  # auto
    assert (config.domain, config.zone, config.bare_names) == ("docker", "docker.", True)
    assert (config.ttl, config.negative_ttl) == (5, 5)
    assert config.http_listen == ("127.0.0.1", 8053)
    assert config.unhealthy is UnhealthyPolicy.SERVE_ALL


@pytest.mark.parametrize(
    ("argv", "environ", "field", "value"),
    [
        (["--dns-listen", "127.0.0.1:5353"], {}, "dns_listen", (("127.0.0.1", 5353),)),
        (
            ["--dns-listen", "[::1]:5353", "--dns-listen", "127.0.0.2"],
            {},
            "dns_listen",
            (("::1", 5353), ("127.0.0.2", 53)),
        ),
        (
            [],
            {"DNSD_DNS_LISTEN": "127.0.0.1:1053,127.0.0.2:1053"},
            "dns_listen",
            (("127.0.0.1", 1053), ("127.0.0.2", 1053)),
        ),
        ([], {"DNSD_DNS_LISTEN": "auto"}, "dns_listen", None),
        (["--domain", "Svc.Local."], {}, "domain", "svc.local"),
        (["--no-bare-names"], {}, "bare_names", False),
        ([], {"DNSD_BARE_NAMES": "false"}, "bare_names", False),
        (["--bare-names"], {"DNSD_BARE_NAMES": "false"}, "bare_names", True),
        (["--ttl", "30"], {"DNSD_TTL": "9"}, "ttl", 30),
        ([], {"DNSD_TTL": "9"}, "ttl", 9),
        (["--when-all-unhealthy", "empty"], {}, "unhealthy", UnhealthyPolicy.EMPTY),
        (["--no-docker"], {}, "docker", False),
        (["--upstream", "127.0.0.1:5300"], {}, "upstreams", (("127.0.0.1", 5300),)),
        (["--http-listen", "off"], {}, "http_listen", None),
        (["--allow-recursion", "10.1.2.3/8"], {}, "allow_recursion", ("10.0.0.0/8",)),
    ],
)
def test_settings(argv: list[str], environ: dict[str, str], field: str, value: object) -> None:
    assert getattr(parse_serve_args(argv, environ), field) == value


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--ttl", "0"], {}, "--ttl '0': expected an integer from 1 to 604800"),
        (["--ttl", "-3"], {}, "--ttl '-3': expected an integer from 1 to 604800"),
        ([], {"DNSD_TTL": "abc"}, "DNSD_TTL 'abc': expected an integer from 1 to 604800"),
        (["--dns-listen", "127.0.0.1:70000"], {}, "expected an integer from 0 to 65535"),
        (
            ["--records", "/nonexistent/records"],
            {},
            "--records '/nonexistent/records': expected a readable file",
        ),
        (["--log-level", "loud"], {}, "expected one of debug, info, warning, error"),
        (["--docker-url", "docker.sock"], {}, "expected unix:///path/to/docker.sock"),
        (["--allow-recursion", "nonsense"], {}, "expected an address range"),
        ([], {"DNSD_BARE_NAMES": "maybe"}, "DNSD_BARE_NAMES 'maybe': expected true or false"),
        (["--upstream-timeout", "2", "--forward-deadline", "1"], {}, "--forward-deadline"),
        (
            ["--dns-listen", "auto", "--dns-listen", "127.0.0.1:5353"],
            {},
            "--dns-listen 'auto': cannot be combined with other addresses",
        ),
        ([], {"DNSD_DNS_LISTEN": "auto,[::1]:53"}, "DNSD_DNS_LISTEN 'auto': cannot be combined"),
        (["--upstream", "127.0.0.1:0"], {}, "--upstream '127.0.0.1:0': expected a port from 1"),
    ],
)
def test_bad_values_name_the_setting(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=None) as info:
        parse_serve_args(argv, environ)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_bad_flag_exits_2_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "dnsd", "serve", "--ttl", "0"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dnsd: error: --ttl '0': expected an integer from 1 to 604800"
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--dns-listen", "5355"], "for port 5355 write 127.0.0.1:5355"),
        (["--dns-listen", "localhost:53"], "expected IP:PORT such as 127.0.0.1:5353"),
        (["--upstream", "not an ip"], "expected an IP address or a host name that resolves"),
    ],
)
def test_addresses_are_checked_at_start(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_serve_args(argv, {})
    assert f"{argv[0]} {argv[1]!r}: " in str(info.value)
    assert message in str(info.value)


def test_an_upstream_host_name_is_resolved_at_start() -> None:
    """`localhost` comes from /etc/hosts: no DNS query leaves the machine."""
    config = parse_serve_args(["--upstream", "localhost:5300"], {})
    assert config.upstreams == (("127.0.0.1", 5300),)


def test_an_upstream_name_that_does_not_resolve_exits_2() -> None:
    """In a fresh network namespace with no interfaces, the lookup fails without traffic."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n needs root")
    result = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "dnsd", "serve", "--upstream", "upstream-x"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("dnsd: error: --upstream 'upstream-x': expected an IP address")
