"""Default upstreams from resolv.conf text (pure; the machine's file is never used)."""

from __future__ import annotations

import pytest

from dnsd.forward import default_upstreams, read_resolv_conf

SYSTEMD_RESOLVED = """# managed by man:systemd-resolved(8)
nameserver 127.0.0.53
options edns0 trust-ad
search example.internal
"""


@pytest.mark.parametrize(
    ("text", "own", "expected"),
    [
        (SYSTEMD_RESOLVED, [("127.0.0.1", 53)], [("127.0.0.53", 53)]),
        (
            "nameserver 10.0.0.2\nnameserver 2001:db8::53\n",
            [],
            [("10.0.0.2", 53), ("2001:db8::53", 53)],
        ),
        ("nameserver 127.0.0.1\nnameserver 10.0.0.2\n", [("127.0.0.1", 53)], [("10.0.0.2", 53)]),
        ("nameserver 127.0.0.1\n", [("0.0.0.0", 53)], []),  # wildcard listener: loop
        ("nameserver 127.0.0.1\n", [("127.0.0.1", 5353)], [("127.0.0.1", 53)]),
        ("# nameserver 10.9.9.9\n; nameserver 10.8.8.8\nnameserver bogus\n", [], []),
        ("nameserver 10.0.0.2 # office\nnameserver 10.0.0.2\n", [], [("10.0.0.2", 53)]),
        ("", [], []),
    ],
)
def test_default_upstreams(
    text: str, own: list[tuple[str, int]], expected: list[tuple[str, int]]
) -> None:
    assert default_upstreams(text, own) == expected


def test_unreadable_resolv_conf_reads_as_empty(tmp_path: object) -> None:
    assert read_resolv_conf(f"{tmp_path}/missing") == ""
