"""`--swarm auto|on|off` (DNSD_SWARM), which watchers `dnsd serve` builds, and what the Swarm
watcher does on an engine that is not a Swarm manager (the shared test engine, never in swarm
mode)."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys

import pytest

from dnsd.app import build_watchers
from dnsd.client import explain_text
from dnsd.config import ConfigError, parse_serve_args
from dnsd.core.explain import explain_name
from registry import Resync, Snapshot, Store, UnhealthyPolicy
from tests.docker_support import require_engine
from tests.watchers.test_swarm_translate import NODE, load
from watchers.base import Supervisor, WatcherState
from watchers.docker_watcher import DockerWatcher
from watchers.swarm_translate import SwarmState, endpoints_of
from watchers.swarm_watcher import SwarmWatcher


@pytest.mark.parametrize(
    ("argv", "environ", "sources", "leave_tasks", "required"),
    [
        ([], {}, ["docker", "swarm"], True, False),
        (["--swarm", "off"], {}, ["docker"], False, None),
        ([], {"DNSD_SWARM": "off"}, ["docker"], False, None),
        (["--swarm", "on"], {"DNSD_SWARM": "off"}, ["docker", "swarm"], True, True),
        (["--no-docker"], {}, [], None, None),
        (["--no-docker", "--swarm", "on"], {}, ["swarm"], None, True),
    ],
)
def test_which_watchers_serve_builds(
    argv: list[str],
    environ: dict[str, str],
    sources: list[str],
    leave_tasks: bool | None,
    required: bool | None,
) -> None:
    watchers = build_watchers(parse_serve_args(argv, environ))
    assert [w.source for w in watchers] == sources
    docker = [w for w in watchers if isinstance(w, DockerWatcher)]
    swarm = [w for w in watchers if isinstance(w, SwarmWatcher)]
    assert [w.leave_swarm_tasks for w in docker] == ([] if leave_tasks is None else [leave_tasks])
    assert [w.required for w in swarm] == ([] if required is None else [required])


@pytest.mark.parametrize(
    ("argv", "environ", "message"),
    [
        (["--swarm", "maybe"], {}, "--swarm 'maybe'"),
        ([], {"DNSD_SWARM": "yes"}, "DNSD_SWARM 'yes'"),
    ],
)
def test_a_bad_swarm_setting_is_named(
    argv: list[str], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_serve_args(argv, environ)
    assert str(info.value).startswith(message)
    assert "auto" in str(info.value) and "off" in str(info.value)


def test_a_bad_swarm_flag_exits_2_with_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dnsd", "serve", "--swarm", "sometimes"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert "--swarm" in done.stderr


@pytest.mark.docker
@pytest.mark.parametrize(("required", "level"), [(False, logging.INFO), (True, logging.WARNING)])
async def test_not_a_manager_says_so_once_and_serves_nothing(
    required: bool, level: int, caplog: pytest.LogCaptureFixture
) -> None:
    require_engine()
    caplog.set_level(logging.INFO, logger="watchers.swarm_watcher")
    store = Store()
    supervisor = Supervisor(SwarmWatcher(required=required), store.apply)
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(supervisor.synced.wait(), 20)
        for _ in range(100):
            if caplog.records:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert supervisor.status.state in (WatcherState.CONNECTED, WatcherState.STOPPED)
    assert supervisor.status.last_error == ""
    assert store.snapshot.endpoints == {}
    notices = [r for r in caplog.records if "not a Swarm manager" in r.getMessage()]
    assert len(notices) == 1 and notices[0].levelno == level
    assert "services are visible only on managers" in notices[0].getMessage()


def test_explain_shows_service_mode_node_state_and_why() -> None:
    """The explain view and `dnsd explain` text of `tasks.web` 1.5 s after scale 3 -> 1."""
    swarm = SwarmState(
        load("services.json"),
        load("tasks_scaledown.json"),
        load("nodes.json"),
        load("networks.json"),
    )
    snap = Snapshot().apply(Resync("swarm", tuple(endpoints_of(swarm).values())))
    view = explain_name(snap, "tasks.web", "docker.", UnhealthyPolicy.SERVE_ALL)
    assert view is not None
    text = explain_text(view)
    assert "service: web" in text and "mode: replicated, endpoint mode vip" in text
    assert f"node: vm ({NODE})" in text
    assert "state: running (desired remove)" in text
    assert "OUT of rotation: task shutting down (desired state remove)" in text
    assert (text.count(", in rotation"), text.count("OUT of rotation")) == (1, 2)  # web.1 is in
    vip = explain_name(snap, "web", "docker.", UnhealthyPolicy.SERVE_ALL)
    assert vip is not None
    assert "tasks: 1 of 3 in rotation" in explain_text(vip)
