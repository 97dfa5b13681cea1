"""`dnsd events` against a real `dnsd serve`: the history, filters, -f following live."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dnsd.events_cli import event_line, sse_events
from tests.serve_process import dnsd_serve, free_port, stop_process


def dnsd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dnsd", *args], capture_output=True, text=True, timeout=30
    )


def test_one_line_per_change_like_docker_events() -> None:
    change: dict[str, object] = {
        "time_text": "2026-11-28T14:02:03.412Z", "fqdn": "api.docker.", "change": "removed",
        "detail": "10.0.3.7 on shop", "endpoint": "shop-api-1", "source": "docker",
        "id": "0123456789abcdef", "answer": [], "reason": "docker container die (exit code 137)",
    }  # fmt: skip
    assert event_line(change) == (
        "2026-11-28T14:02:03.412Z api.docker. removed 10.0.3.7 on shop (endpoint=shop-api-1, "
        "source=docker/0123456789ab, answers=nothing, why=docker container die (exit code 137))"
    )


def test_server_sent_events_are_parsed_frame_by_frame() -> None:
    stream = [b"retry: 2000\n", b"\n", b": keepalive\n", b"\n", b"id: 7\n", b"event: change\n",
              b'data: {"seq": 7}\n', b"\n", b"event: dropped\n", b"data: {}\n", b"\n"]  # fmt: skip
    assert list(sse_events(stream)) == [("change", '{"seq": 7}'), ("dropped", "{}")]


@pytest.fixture
def records(tmp_path: Path) -> Path:
    path = tmp_path / "records.hosts"
    path.write_text("10.0.0.1 web\n10.0.0.2 db\n")
    return path


def test_history_name_filter_and_json(records: Path, tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path, http=True) as served:
        api = f"http://127.0.0.1:{served.http_port}"
        done = dnsd("events", "--api", api)
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert [line.split()[1:3] for line in lines] == [
            ["web.docker.", "added"], ["db.docker.", "added"],
        ]  # fmt: skip
        assert f"why=records file {records} loaded)" in lines[0]
        only = dnsd("events", "--api", api, "--name", "db.docker", "--since", "1h", "--json")
        assert [json.loads(line)["fqdn"] for line in only.stdout.splitlines()] == ["db.docker."]


def test_follow_prints_changes_as_they_happen(records: Path, tmp_path: Path) -> None:
    with dnsd_serve(["--no-docker", "--records", str(records)], tmp_path, http=True) as served:
        api = f"http://127.0.0.1:{served.http_port}"
        follower = subprocess.Popen(
            # --since: a change made before the follower connects is replayed, not missed
            [sys.executable, "-m", "dnsd", "events", "-f", "--api", api, "--name", "api",
             "--since", "1h"],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert follower.stdout is not None
            with records.open("a") as handle:
                handle.write("10.0.0.9 api\n")
            line = follower.stdout.readline()
            assert line.split()[1:4] == ["api.docker.", "added", "10.0.0.9"]
            assert "why=records file" in line and "changed)" in line
        finally:
            stop_process(follower, 5)


def test_bad_time_is_a_usage_error(tmp_path: Path) -> None:
    done = dnsd("events", "--api", "http://127.0.0.1:1", "--since", "yesterday-ish")
    assert done.returncode == 2
    assert done.stderr.startswith("dnsd events: --since: 'yesterday-ish' is not a time; use")


def test_no_server_is_one_line_and_exit_1() -> None:
    done = dnsd("events", "--api", f"http://127.0.0.1:{free_port()}")
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert "cannot reach the dnsd HTTP API" in done.stderr
