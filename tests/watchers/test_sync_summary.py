"""One summary line per source when it has synced: where from, how many, how long."""

from __future__ import annotations

import asyncio
import logging
import re
from pathlib import Path

import pytest

from registry import Store
from tests.docker_support import DockerLab
from watchers.base import Supervisor
from watchers.docker_watcher import DockerWatcher
from watchers.records_file import RecordsFile


async def run_until_synced(supervisor: Supervisor) -> None:
    task = asyncio.create_task(supervisor.run())
    try:
        await asyncio.wait_for(supervisor.synced.wait(), 30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_records_file_sync_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "records.hosts"
    path.write_text("10.0.0.1 web www\n10.0.0.2 web\n")
    caplog.set_level(logging.INFO, logger="watchers.base")
    await run_until_synced(Supervisor(RecordsFile(path, "docker."), Store().apply))
    lines = [r.getMessage() for r in caplog.records if r.name == "watchers.base"]
    assert len(lines) == 1
    assert re.fullmatch(rf"file:{path}: connected to {path}, 2 records, 2 names, \d+ ms", lines[0])


@pytest.mark.docker
async def test_docker_sync_line(lab: DockerLab, caplog: pytest.LogCaptureFixture) -> None:
    lab.run("box", "--network", lab.network("net"))
    caplog.set_level(logging.INFO, logger="watchers.base")
    await run_until_synced(Supervisor(DockerWatcher(), Store().apply))
    [line] = [r.getMessage() for r in caplog.records if r.name == "watchers.base"]
    found = re.fullmatch(r"docker: connected to (\S+), (\d+) containers, (\d+) names, \d+ ms", line)
    assert found is not None, line
    assert found.group(1).startswith("unix://") or found.group(1).startswith("tcp://")
    assert int(found.group(2)) >= 1 and int(found.group(3)) >= 1
