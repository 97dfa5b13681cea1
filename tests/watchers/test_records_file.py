"""The records file source: hosts format into endpoints, and reloads on change."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from registry import Resync, Store
from watchers.base import Supervisor
from watchers.records_file import RecordsFile, parse_records, record_key


@pytest.mark.parametrize(
    ("written", "key"),
    [
        ("web", "web"),
        ("WEB", "web"),
        ("web.docker", "web"),
        ("web.docker.", "web"),
        ("db.internal", "db.internal."),
        ("db.internal.", "db.internal."),
    ],
)
def test_record_keys(written: str, key: str) -> None:
    assert record_key(written, "docker.") == key


def test_hosts_format() -> None:
    text = "# comment\n10.0.0.1 web  www # trailing\n\n10.0.0.2 web\nfd00::5 six\n"
    result = parse_records(text, "file:x", "docker.")
    assert result.errors == ()
    store = Store()
    store.apply(Resync("file:x", result.endpoints))
    assert store.snapshot.resolve("web").addresses == ("10.0.0.1", "10.0.0.2")
    assert store.snapshot.resolve("www").addresses == ("10.0.0.1",)
    assert store.snapshot.resolve("six").addresses == ("fd00::5",)


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("10.0.0.1", "line 1: expected 'ADDRESS NAME [NAME...]'"),
        ("300.1.1.1 web", "line 1: '300.1.1.1' is not an IPv4 or IPv6 address"),
        ("10.0.0.1 bad..name", "line 1: not a DNS name"),
    ],
)
def test_bad_lines_are_reported_and_skipped(line: str, error: str) -> None:
    result = parse_records(line + "\n10.0.0.9 ok\n", "file:x", "docker.")
    assert len(result.errors) == 1 and result.errors[0].startswith(error)
    assert [e.name for e in result.endpoints] == ["ok"]


async def test_edits_show_up(tmp_path: Path) -> None:
    path = tmp_path / "records"
    path.write_text("10.0.0.1 web\n")
    store = Store()
    supervisor = Supervisor(RecordsFile(path, "docker.", poll=0.05), store.apply)
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(supervisor.synced.wait(), 5)
        assert store.snapshot.resolve("web").addresses == ("10.0.0.1",)
        path.write_text("10.0.0.7 web\n10.0.0.8 api\n")
        for _ in range(100):
            if store.snapshot.resolve("api").exists:
                break
            await asyncio.sleep(0.05)
        assert store.snapshot.resolve("web").addresses == ("10.0.0.7",)
        assert store.snapshot.resolve("api").addresses == ("10.0.0.8",)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
