"""Setting value parsers as tables: accepted text -> value, refused text -> what users see."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from dnsd.parsers import (
    choice,
    float_in_range,
    format_host_port,
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


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("127.0.0.1:53", ("127.0.0.1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
        ("host", ("host", 53)),
        (" 10.0.0.1:0 ", ("10.0.0.1", 0)),
    ],
)
def test_host_port_round_trip(text: str, value: tuple[str, int]) -> None:
    assert parse_host_port(text) == value
    assert parse_host_port(format_host_port(*value)) == value


ACCEPTED: list[tuple[Callable[[str], object], str, object]] = [
    (int_in_range(1, 10), "10", 10),
    (float_in_range(0.1, 2.0), "0.5", 0.5),
    (parse_bool, "Yes", True),
    (parse_bool, "off", False),
    (parse_domain, "Docker.", "docker"),
    (parse_cidr, "10.1.2.3/8", "10.0.0.0/8"),
    (parse_ip, " ::ffff:1.2.3.4 ", "::ffff:102:304"),
    (parse_upstream, "[2001:db8::1]", ("2001:db8::1", 53)),
    (parse_docker_url, "unix:///var/run/docker.sock", "unix:///var/run/docker.sock"),
    (choice("text", "json"), "json", "json"),
]


@pytest.mark.parametrize(("parse", "text", "value"), ACCEPTED)
def test_accepted_values(parse: Callable[[str], object], text: str, value: object) -> None:
    assert parse(text) == value


REFUSED: list[tuple[Callable[[str], object], str, str]] = [
    (parse_host_port, ":53", "expected HOST:PORT"),
    (parse_host_port, "h:99999", "expected an integer from 0 to 65535"),
    (int_in_range(1, 10), "11", "expected an integer from 1 to 10"),
    (int_in_range(1, 10), "ten", "expected an integer from 1 to 10"),
    (float_in_range(0.1, 2.0), "nan", "expected a number of seconds from 0.1 to 2.0"),
    (parse_bool, "maybe", "expected true or false"),
    (parse_domain, "bad..zone", "not a DNS name"),
    (parse_cidr, "10.0.0.0/33", "expected an address range"),
    (parse_ip, "10.0.0", "expected an IPv4 or IPv6 address"),
    (parse_upstream, "10.0.0.1:0", "expected a port from 1 to 65535"),
    (parse_docker_url, "/var/run/docker.sock", "expected unix:///path"),
    (choice("text", "json"), "xml", "expected one of text, json"),
]


@pytest.mark.parametrize(("parse", "text", "message"), REFUSED)
def test_refused_values_say_what_is_accepted(
    parse: Callable[[str], object], text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        parse(text)


def test_readable_file(tmp_path: Path) -> None:
    path = tmp_path / "records"
    path.write_text("10.0.0.1 web\n")
    assert parse_readable_file(str(path)) == path
    with pytest.raises(ValueError, match="expected a readable file"):
        parse_readable_file(str(tmp_path / "missing"))
