"""Name rules as tables: keys, how users write names, and the absolute name a key answers as."""

from __future__ import annotations

import pytest

from registry.names import is_absolute, name_key, qualify, sanitize_label, user_key


@pytest.mark.parametrize(
    ("name", "key"),
    [("Web", "web"), (" web.Shop ", "web.shop"), ("API.internal.", "api.internal."), ("*", "*")],
)
def test_name_key(name: str, key: str) -> None:
    assert name_key(name) == key


@pytest.mark.parametrize("bad", ["", ".", "-web", "web-", "a..b", "x" * 64, "a_b c", "é"])
def test_name_key_refuses_what_is_not_a_dns_name(bad: str) -> None:
    with pytest.raises(ValueError, match="not a DNS name"):
        name_key(bad)


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("web", "web"),
        ("web.docker", "web"),
        ("WEB.docker.", "web"),
        ("db.shop.docker", "db.shop"),
        ("db.internal", "db.internal."),
        ("db.internal.", "db.internal."),
        ("docker.example", "docker.example."),
    ],
)
def test_user_key_reads_names_relative_to_the_zone(written: str, key: str) -> None:
    assert user_key(written, "docker.") == key


@pytest.mark.parametrize(
    ("key", "name"), [("web", "web.docker."), ("db.shop", "db.shop.docker."), ("a.b.", "a.b.")]
)
def test_qualify_is_the_answered_name(key: str, name: str) -> None:
    assert qualify(key, "docker.") == name
    assert is_absolute(name)


@pytest.mark.parametrize(
    ("text", "label"), [("/Shop_Web_1", "shop_web_1"), ("a b!c", "a-b-c"), ("..x..y..", "x.y")]
)
def test_sanitize_label_makes_a_key(text: str, label: str) -> None:
    assert sanitize_label(text) == label
    assert name_key(label) == label
