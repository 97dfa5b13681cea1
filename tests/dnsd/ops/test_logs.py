"""Logging: one line per event in text or JSON, and every registry change logged with its why."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest

from dnsd.ops.logs import LINES_PER_EVENT, log_registry_changes, setup_logging
from registry import Address, Endpoint, Health, NameClaim, Origin, Remove, Resync, Store, Upsert


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def web(health: Health = Health.HEALTHY, ip: str = "10.0.3.7") -> Endpoint:
    return Endpoint(
        "docker", "0123456789abcdef", "shop-web-1",
        (NameClaim("web", Origin.COMPOSE_SERVICE),), (Address(ip, "shop_default"),), health=health,
    )  # fmt: skip


def test_json_lines_carry_the_registry_change(captured: io.StringIO) -> None:
    setup_logging("info", "json", captured)
    store = Store()
    unsubscribe = log_registry_changes(store)
    store.apply(Resync("docker", (web(),)))
    store.apply(Upsert(web(Health.UNHEALTHY)))
    store.apply(Remove("docker", "0123456789abcdef"))
    unsubscribe()
    entries = [json.loads(line) for line in captured.getvalue().splitlines()]
    assert [(e["action"], e["why"]) for e in entries] == [
        ("added", "resync of docker"),
        ("changed", "upsert from docker: health healthy -> unhealthy"),
        ("removed", "remove from docker"),
    ]
    first = entries[0]
    assert first["level"] == "info"
    assert first["names"] == ["web"]
    assert first["addresses"] == ["10.0.3.7"]
    assert first["container"] == "shop-web-1"
    assert first["msg"] == (
        "added web(compose-service) -> 10.0.3.7@shop_default "
        "(container shop-web-1, docker/0123456789ab) because resync of docker"
    )


def test_resync_logs_only_what_changed(captured: io.StringIO) -> None:
    setup_logging("info", "text", captured)
    store = Store()
    store.apply(Resync("docker", (web(),)))
    log_registry_changes(store)
    store.apply(Resync("docker", (web(),)))
    assert captured.getvalue() == ""
    store.apply(Resync("docker", ()))
    [line] = captured.getvalue().splitlines()
    assert " INFO dnsd.registry: removed web(compose-service) -> 10.0.3.7@shop_default" in line
    assert line.endswith("because resync of docker: gone from the source")


def test_text_format_keeps_a_traceback_on_one_line(captured: io.StringIO) -> None:
    setup_logging("warning", "text", captured)
    logging.getLogger("dnsd.test").info("not shown at warning level")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("dnsd.test").exception("it failed")
    [line] = captured.getvalue().splitlines()
    assert "ERROR dnsd.test: it failed | Traceback" in line
    assert line.endswith("RuntimeError: boom")


def test_a_big_event_logs_a_few_lines_and_counts_the_rest(captured: io.StringIO) -> None:
    setup_logging("info", "json", captured)
    store = Store()
    old = [replace(web(ip=f"10.0.4.{i}"), id=f"old{i}", source="cluster:a") for i in range(5)]
    store.apply(Resync("cluster:a", tuple(old)))
    log_registry_changes(store)
    new = [
        replace(web(ip=f"10.0.5.{i}"), id=f"new{i}", source="cluster:a")
        for i in range(LINES_PER_EVENT + 30)
    ]
    moved = replace(old[0], addresses=(Address("10.0.6.1", "shop_default"),))
    store.apply(Resync("cluster:a", (*new, moved, *old[1:3])))  # old3, old4 gone
    entries = [json.loads(line) for line in captured.getvalue().splitlines()]
    *lines, more = entries
    assert len(lines) == LINES_PER_EVENT and more["action"] == "more"
    logged = Counter(e["action"] for e in lines)
    assert logged + Counter(more["counts"]) == {"added": 50, "changed": 1, "removed": 2}
    assert more["msg"].startswith("and 33 more endpoints of cluster:a (")
    assert more["msg"].endswith(") because resync of cluster:a: GET /v1/events lists each")
