"""The fast cluster decoder against the straightforward reference (reference_decode.py): for
every value, good or corrupted, both give an equal Endpoint or both refuse it with BadValue,
whether its parts are new, remembered from earlier values, or evicted at the caches' bound."""

from __future__ import annotations

import codecs
import copy
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import Endpoint
from tests.cluster import reference_decode
from watchers.cluster import decode as fast

CACHES = ("_SOURCES", "_KEYS", "_CLAIMS", "_HOSTS", "_ADDRESSES", "_PORTS")


def outcome(decoder: Any, raw: bytes, node: str, endpoint_id: str) -> Endpoint | str:
    try:
        endpoint: Endpoint = decoder(raw, node, endpoint_id)
    except fast.BadValue:
        return "BadValue"
    return endpoint


def check(raw: bytes, node: str = "a", endpoint_id: str = "docker/x") -> Endpoint | str:
    """Decode `raw` with both, twice with the fast one (the second sees its own caches)."""
    want = outcome(reference_decode.decode, raw, node, endpoint_id)
    for _ in range(2):
        assert outcome(fast.decode, raw, node, endpoint_id) == want, raw
    return want


@contextmanager
def bound(entries: int) -> Iterator[None]:
    """The caches emptied and bounded at `entries`."""
    for name in CACHES:
        getattr(fast, name).clear()
    with patch.object(fast, "CACHE_ENTRIES", entries):
        yield
    for name in CACHES:
        assert len(getattr(fast, name)) <= entries


GOOD: dict[str, Any] = {
    "v": 1,
    "source": "docker",
    "name": "shop-web-1",
    "names": [
        {"name": "shop-web-1", "origin": "container-name"},
        {"name": "web", "origin": "compose-service"},
        {"name": "web.shop", "origin": "compose-project-service"},
    ],
    "addresses": [
        {"ip": "172.18.0.5", "network": "shop_default", "scope": "local"},
        {"ip": "10.0.9.5", "network": "ov", "scope": "overlay"},
        {"ip": "10.0.9.6", "network": "ov", "scope": "overlay"},
        {"ip": "198.51.100.7", "network": "", "scope": "any"},
    ],
    "ports": [
        {"port": 80, "proto": "tcp", "name": "http", "host_port": 8080, "host_ip": "0.0.0.0"},
        {"port": 53, "proto": "udp", "name": "", "host_port": 5353, "host_ip": "192.0.2.10"},
        {"port": 22, "proto": "tcp", "name": "", "host_port": 2222, "host_ip": "127.0.0.1"},
        {"port": 9, "proto": "sctp", "name": "", "host_port": 0, "host_ip": ""},
    ],
    "health": "healthy",
    "paused": False,
    "project": "shop",
    "host": "192.0.2.10",
}


def value(**changes: Any) -> bytes:
    body = dict(GOOD, **changes)
    return json.dumps({k: v for k, v in body.items() if v is not DROP}).encode()


DROP: Any = object()
RAW_GOOD = value()


def names(*pairs: tuple[Any, Any]) -> list[dict[str, Any]]:
    return [{"name": name, "origin": origin} for name, origin in pairs]


LONGEST = ".".join(("l" * 63, "m" * 63, "n" * 63, "o" * 61))  # 253 characters
TABLE: list[tuple[bytes, str, str]] = [
    (RAW_GOOD, "a", "docker/x"),
    (RAW_GOOD, "node-1", "docker/x"),
    (RAW_GOOD, "Bad.Node", "docker/x"),
    (RAW_GOOD, "A", "docker/x"),
    (RAW_GOOD, "", "docker/x"),
    (RAW_GOOD, "*", "docker/x"),
    (RAW_GOOD, "x" * 63, "docker/x"),
    (RAW_GOOD, "x" * 64, "docker/x"),
    (RAW_GOOD, "a", "d" * 512),
    (RAW_GOOD, "a", "d" * 513),
    (value(v=1.0), "a", "x"),
    (value(v=True), "a", "x"),
    (value(v="1"), "a", "x"),
    (value(v=DROP), "a", "x"),
    (b" " + RAW_GOOD + b" \n\t", "a", "x"),
    (RAW_GOOD + b" x", "a", "x"),
    (RAW_GOOD + b"{}", "a", "x"),
    (codecs.BOM_UTF8 + RAW_GOOD, "a", "x"),
    (RAW_GOOD.decode().encode("utf-16"), "a", "x"),
    (RAW_GOOD.decode().encode("utf-16-le"), "a", "x"),
    (RAW_GOOD.decode().encode("utf-32"), "a", "x"),
    (RAW_GOOD[:-1], "a", "x"),
    (b'{"v": 1, "name": "\xff"}', "a", "x"),
    (b'{"v": 1, "name": "\xed\xa0\x80"}', "a", "x"),
    (b'{"v":1,"name":"a","project":' + b"[" * 3000 + b"]" * 3000 + b"}", "a", "x"),
    (b'{"v":1,"name":"a","paused":NaN}', "a", "x"),
    (b"[]", "a", "x"),
    (b"1", "a", "x"),
    (b"", "a", "x"),
    (b'{"v":1}', "a", "x"),
    (b" " * (fast.MAX_VALUE_BYTES + 1), "a", "x"),
    (value(project="p" * (fast.MAX_VALUE_BYTES - len(RAW_GOOD))), "a", "x"),
    (value(name=" Shop-Web-1 "), "a", "x"),
    (value(name="shop.web."), "a", "x"),
    (value(name="bad name"), "a", "x"),
    (value(name="x" * 256), "a", "x"),
    (value(name=7), "a", "x"),
    (value(name=DROP), "a", "x"),
    (value(names=names(("WEB", "label"), (" web", "label"), ("web", "label"))), "a", "x"),
    (value(names=names(("web", "label"), ("web", "network-alias"))), "a", "x"),
    (value(names=names(("shop-web-1", "label"), ("Shop-Web-1", "hostname"))), "a", "x"),
    (value(names=names(("x.evil.", "label"))), "a", "x"),
    (value(names=names(("x", "node"))), "a", "x"),
    (value(names=names(("x", "martian"))), "a", "x"),
    (value(names=names(("x", 3))), "a", "x"),
    (value(names=names(("x", ["label"]))), "a", "x"),
    (value(names=names((["x"], "label"))), "a", "x"),
    (value(names=names(("*", "label"), ("*.web", "label"))), "a", "x"),
    (value(names=names((LONGEST, "label"))), "abc", "x"),  # <name>.<node> would be too long
    (value(names=names((LONGEST[2:], "label"))), "a", "x"),  # 251 + 1: answered in the node
    (value(names=names((LONGEST[1:], "label"))), "a", "x"),  # 252 + 1: not
    (value(names=[{"name": "x"}]), "a", "x"),
    (value(names=["x"]), "a", "x"),
    (value(names=[None]), "a", "x"),
    (value(names={}), "a", "x"),
    (value(names=None), "a", "x"),
    (value(names=[]), "a", "x"),
    (value(names=names(*((f"n{i}", "label") for i in range(64)))), "a", "x"),
    (value(names=names(*((f"n{i}", "label") for i in range(65)))), "a", "x"),
    (value(host="0:0::1"), "a", "x"),
    (value(host="fe80::1%eth0"), "a", "x"),
    (value(host="010.1.1.1"), "a", "x"),
    (value(host="not-an-ip"), "a", "x"),
    (value(host=""), "a", "x"),
    (value(host=0), "a", "x"),
    (value(host=False), "a", "x"),
    (value(host=[]), "a", "x"),
    (value(host=5), "a", "x"),
    (value(host=["x"]), "a", "x"),
    (value(host=DROP), "a", "x"),
    (value(addresses=[{"ip": "300.1.1.1", "network": "n", "scope": "local"}]), "a", "x"),
    (value(addresses=[{"ip": "300.1.1.1", "network": "n", "scope": "overlay"}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "network": "n", "scope": "galaxy"}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "network": "n", "scope": "host"}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "network": 5, "scope": "local"}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "network": 5, "scope": "overlay"}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "scope": ["overlay"]}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "scope": 0}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1", "scope": None}]), "a", "x"),
    (value(addresses=[{"ip": "::ffff:10.0.0.1", "scope": "any"}]), "a", "x"),
    (value(addresses=[{"network": "n", "scope": "overlay"}]), "a", "x"),
    (value(addresses=[{"network": "n"}]), "a", "x"),
    (value(addresses=[{"ip": "10.0.0.1"}]), "a", "x"),
    (value(addresses=[{"ip": 10, "scope": "local"}]), "a", "x"),
    (value(addresses=[1]), "a", "x"),
    (value(addresses=[["10.0.0.1"]]), "a", "x"),
    (value(addresses=[{"ip": f"10.0.0.{i}", "scope": "any"} for i in range(32)]), "a", "x"),
    (value(addresses=[{"ip": f"10.0.0.{i}", "scope": "any"} for i in range(33)]), "a", "x"),
    (value(ports=[{"port": 70000, "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 65536}]), "a", "x"),
    (value(ports=[{"port": -1, "host_port": 8080}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 65535}]), "a", "x"),
    (value(ports=[{"port": True, "host_port": 8080}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": True}]), "a", "x"),
    (value(ports=[{"port": 80.0, "host_port": 8080}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 8080.0}]), "a", "x"),
    (value(ports=[{"port": "80", "host_port": 8080}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 8080}]), "a", "x"),
    (value(ports=[{"host_port": 8080}]), "a", "x"),
    (value(ports=[{"port": 80, "proto": "icmp", "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "proto": 6, "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "name": "h-t-t-p", "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "name": "-", "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "name": "ht tp", "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "name": "hé", "host_port": 1}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1, "host_ip": "::"}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1, "host_ip": None}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1, "host_ip": "0:0::0"}]), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1}], host="::1"), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1, "host_ip": "::1"}], host="0::1"), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1}], host=DROP), "a", "x"),
    (value(ports=[{"port": 80, "host_port": 1}], addresses=DROP), "a", "x"),
    (value(ports=["80"]), "a", "x"),
    (value(ports=[None]), "a", "x"),
    (value(ports="80"), "a", "x"),
    (value(ports=[{"port": i, "host_port": i} for i in range(64)]), "a", "x"),
    (value(ports=[{"port": i, "host_port": i} for i in range(65)]), "a", "x"),
    (value(health="sick"), "a", "x"),
    (value(health="HEALTHY"), "a", "x"),
    (value(health=None), "a", "x"),
    (value(health=["healthy"]), "a", "x"),
    (value(health=DROP), "a", "x"),
    (value(paused="yes"), "a", "x"),
    (value(paused=1), "a", "x"),
    (value(paused=0), "a", "x"),
    (value(paused=None), "a", "x"),
    (value(paused=True), "a", "x"),
    (value(paused=DROP), "a", "x"),
    (value(project=3), "a", "x"),
    (value(project="p" * 255), "a", "x"),
    (value(project="p" * 256), "a", "x"),
    (value(project=DROP), "a", "x"),
    (value(source=DROP, extra={"x": 1}), "a", "x"),
]


@pytest.mark.parametrize(("raw", "node", "endpoint_id"), TABLE)
def test_table_values_decode_alike(raw: bytes, node: str, endpoint_id: str) -> None:
    check(raw, node, endpoint_id)


def test_the_table_has_both_endpoints_and_refusals() -> None:
    results = [check(raw, node, endpoint_id) for raw, node, endpoint_id in TABLE]
    assert 20 < sum(r == "BadValue" for r in results) < len(results) - 20
    good = check(RAW_GOOD)
    assert isinstance(good, Endpoint) and len(good.addresses) == 4 and len(good.ports) == 2


@pytest.mark.parametrize("entries", [1, 2, 7, fast.CACHE_ENTRIES])
def test_a_stream_of_repeating_values_decodes_alike_at_any_cache_bound(entries: int) -> None:
    with bound(entries):
        for i in range(600):
            svc, node = f"svc{i % 13}", f"n{i % 3}"
            raw = value(
                name=f"c{i % 50}",
                names=names((f"c{i % 50}", "container-name"), (svc, "compose-service")),
                host=f"192.0.2.{i % 5}",
                addresses=[{"ip": f"10.0.{i % 2}.{i % 7}", "network": "ov", "scope": "overlay"}],
                ports=[{"port": 80, "host_port": 8000 + i % 4, "host_ip": ["", "::"][i % 2]}],
            )
            assert isinstance(check(raw, node, f"docker/{i}"), Endpoint)
            for name in CACHES:
                assert len(getattr(fast, name)) <= entries


# -- generated values: good ones, and good ones with a few parts damaged -----------------

ANYTHING = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 70000), st.floats(allow_nan=False),
    st.text(max_size=6), st.lists(st.integers(0, 3), max_size=2), st.just({"a": 1}),
)  # fmt: skip
NAME = st.one_of(
    st.sampled_from(["web", "Web", " web ", "web.shop", "*", "_http", "a-b", "a" * 63,
                     LONGEST]),
    st.from_regex(r"[a-z][a-z0-9-]{0,4}[a-z0-9]", fullmatch=True),
)  # fmt: skip
IP = st.sampled_from(["10.0.0.1", "10.0.0.2", "::1", "0::1", "fe80::1%eth0", "::ffff:1.2.3.4"])
GOOD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "names": st.lists(
        st.fixed_dictionaries(
            {"name": NAME, "origin": st.sampled_from(["label", "container-name", "static"])}
        ),
        max_size=4,
    ),
    "addresses": st.lists(
        st.fixed_dictionaries(
            {"ip": IP},
            optional={
                "network": st.sampled_from(["", "ov", "br"]),
                "scope": st.sampled_from(["local", "overlay", "any"]),
            },
        ),
        max_size=3,
    ),
    "ports": st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "port": st.sampled_from([0, 1, 80, 65535]),
                "host_port": st.sampled_from([0, 1, 8080, 65535]),
                "proto": st.sampled_from(["tcp", "udp", "sctp"]),
                "name": st.sampled_from(["", "http", "h-t"]),
                "host_ip": st.sampled_from(["", "0.0.0.0", "::", "10.0.0.1", "0::1", "::1"]),
            },
        ),
        max_size=3,
    ),
    "health": st.sampled_from(["none", "healthy", "starting", "unhealthy"]),
    "paused": st.booleans(),
    "project": st.sampled_from(["", "shop"]),
    "host": st.one_of(IP, st.sampled_from(["", "0:0::1"])),
}
GOOD_BODY = st.fixed_dictionaries({"v": st.just(1), "name": NAME}, optional=GOOD_FIELDS)
NEAR_MISSES: dict[str, list[Any]] = {  # per field: what is almost right, or wrong in type
    "v": [2, 1.0, True, "1", None],
    "name": ["", "web.", "bad name", "a" * 64, "x" * 256, "é", 0, None],
    "origin": ["node", "martian", "Label", "", 0, None],
    "ip": ["300.1.1.1", "010.0.0.1", "not-an-ip", "", 0, None, ["10.0.0.1"]],
    "network": [0, None, "x" * 256, False],
    "scope": ["host", "LOCAL", "", 0, None, False],
    "port": [-1, 65536, True, False, 80.0, "80", None],
    "host_port": [-1, 65536, True, False, 8080.0, "8080", None],
    "proto": ["icmp", "TCP", "", 6, None],
    "host_ip": ["127.0.0.1", "0:0::0", "::1", None, 0],
    "names": [[{"name": "x", "origin": "label"}] * 65, {}, "web", 0, False],
    "addresses": [[{"ip": "10.0.0.1", "scope": "any"}] * 33, {}, "10.0.0.1", 0, False],
    "ports": [[{"port": 1, "host_port": 1}] * 65, {}, 80, 0, False],
    "health": ["sick", "Healthy", "", None, 0],
    "paused": [0, 1, None, "false", []],
    "project": ["x" * 256, 0, None, False],
    "host": ["not-an-ip", "300.1.1.1", 0, False, [], 5, ["10.0.0.1"]],
}
NEAR_MISSES["name"] += ["-", "a b"]  # a port's name: the same pool, and these


def damage(key: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.sampled_from(NEAR_MISSES[key]), ANYTHING)


ITEM_KEYS = {
    "names": ["name", "origin"],
    "addresses": ["ip", "network", "scope"],
    "ports": ["port", "host_port", "proto", "name", "host_ip"],
}


@st.composite
def bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A good value, then up to two parts of it replaced or removed."""
    body: dict[str, Any] = copy.deepcopy(draw(GOOD_BODY))  # drawn values may be shared
    for _ in range(draw(st.integers(0, 2))):
        where: Any = body
        keys = ["v", "name", *GOOD_FIELDS]
        listed = draw(st.sampled_from([None, *ITEM_KEYS]))
        items = body.get(listed) if listed else None
        if listed and type(items) is list and items:
            at = draw(st.integers(0, len(items) - 1))
            if draw(st.integers(0, 4)) == 0 or type(items[at]) is not dict:
                items[at] = copy.deepcopy(draw(ANYTHING))  # the item is not an object
                continue
            where, keys = items[at], ITEM_KEYS[listed]
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 3)) == 0:
            where.pop(key, None)
        else:
            where[key] = copy.deepcopy(draw(damage(key)))
    return body


def raw_forms(body: dict[str, Any]) -> st.SearchStrategy[bytes]:
    text = json.dumps(body, separators=(",", ":"))
    return st.sampled_from(
        [text.encode(), json.dumps(body, sort_keys=True).encode(), b" " + text.encode(),
         text.encode() + b"\n", text.encode() + b"]", text.encode("utf-16")]
    )  # fmt: skip


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.sampled_from([1, 3, fast.CACHE_ENTRIES]))
def test_generated_values_decode_alike(data: st.DataObject, entries: int) -> None:
    nodes = st.sampled_from(["a", "node-1", "n_2", "x" * 63, "a", "A", "x" * 64])
    with bound(entries):
        for _ in range(4):  # several values, so later ones meet earlier ones' parts
            raw = data.draw(bodies().flatmap(raw_forms))
            check(raw, data.draw(nodes), "docker/x")


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(RAW_GOOD) - 1), st.binary(min_size=0, max_size=3), st.booleans())
def test_damaged_bytes_decode_alike(at: int, insert: bytes, cut: bool) -> None:
    check(RAW_GOOD[:at] + insert + RAW_GOOD[at + (1 if cut else 0) :])
