"""compose/: the files validate with docker-compose 1.29, and the demo flow runs.

CI cannot pull base images, so the demo runs on the local busybox test image
(DEMO_IMAGE) and dnsd runs on the host (`dnsd serve` on the compose network's
gateway, port 53) instead of in its container; DNSD_IP points the services'
`dns:` at it. The client container then resolves the scaled service by name.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dnsd.forward import default_upstreams
from dnsd.parsers import parse_host_port
from tests.docker_support import build_test_image, docker, require_engine
from tests.serve_process import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "compose" / "docker-compose.yml"
DOCKERFILE = ROOT / "compose" / "Dockerfile"


def docker_compose() -> str:
    path = shutil.which("docker-compose")
    if path:
        return path
    message = "docker-compose is missing (apt-get install -y docker-compose)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def compose(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("DNSD_", "DEMO_"))}
    done = subprocess.run(
        [docker_compose(), "-f", str(COMPOSE_FILE), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError(f"docker-compose {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def test_compose_file_validates() -> None:
    config = compose("config")
    assert re.search(r"^  dnsd:$", config, re.M)
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in config
    assert "ipv4_address: 172.28.53.53" in config
    assert "scale: 3" in config
    assert config.count("- 172.28.53.53\n") == 2  # web and client use dnsd as dns:
    assert "condition: service_healthy" in config


def test_overrides_reach_the_file() -> None:
    env = {"DNSD_IP": "10.99.0.1", "DEMO_IMAGE": "dnsd-test-busybox:latest"}
    config = compose("config", env=env)
    assert "ipv4_address: 10.99.0.1" in config
    assert config.count("image: dnsd-test-busybox:latest") == 2


def test_dnsd_in_compose_keeps_the_embedded_resolver_as_upstream() -> None:
    """In its container dnsd's resolv.conf says 127.0.0.11; a wildcard listener would skip it."""
    config = compose("config", env={"DNSD_IP": "10.99.0.1"})
    listen = re.search(r"- --dns-listen\n\s+- (\S+)\n", config)
    assert listen is not None and listen.group(1) == "10.99.0.1:53"
    own = [parse_host_port(listen.group(1))]
    assert default_upstreams("nameserver 127.0.0.11\noptions ndots:0\n", own) == [
        ("127.0.0.11", 53)
    ]


def test_dockerfile_copies_what_exists() -> None:
    text = DOCKERFILE.read_text()
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert 'pip install --no-cache-dir ".[fast]"' in text
    for source in re.findall(r"^COPY (.+) \S+$", text, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"


# -- the demo flow ---------------------------------------------------------------


@dataclass
class Demo:
    project: str
    env: dict[str, str]
    gateway: str
    api: str
    log: Path

    def web_ips(self) -> set[str]:
        ids = compose("-p", self.project, "ps", "-q", "web", env=self.env).split()
        network = f"{self.project}_dnsd"
        return {
            json.loads(docker("inspect", cid))[0]["NetworkSettings"]["Networks"][network][
                "IPAddress"
            ]
            for cid in ids
        }


def _subnet_candidates() -> Iterator[tuple[str, str]]:
    for _ in range(6):
        b, c = random.randint(100, 250), random.randint(0, 255)
        yield f"10.{b}.{c}.0/24", f"10.{b}.{c}.1"


def _up_web(project: str) -> tuple[dict[str, str], str]:
    """`up -d web` on a free subnet; returns the env used and the gateway."""
    failure = ""
    for subnet, gateway in _subnet_candidates():
        env = {
            "DEMO_IMAGE": build_test_image(),
            "DNSD_SUBNET": subnet,
            "DNSD_GATEWAY": gateway,
            "DNSD_IP": gateway,
        }
        try:
            compose("-p", project, "up", "-d", "--no-deps", "web", env=env)
            return env, gateway
        except RuntimeError as exc:
            failure = str(exc)
            compose("-p", project, "down", "--remove-orphans", env=env)
            if "overlap" not in failure:
                break
    raise RuntimeError(failure)


def _start_dnsd(gateway: str, http_port: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable, "-m", "dnsd", "serve",
        "--dns-listen", f"{gateway}:53",
        "--http-listen", f"127.0.0.1:{http_port}",
        "--upstream", f"127.0.0.1:{free_port()}",  # nothing leaves the machine
        "--docker",
    ]  # fmt: skip
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DNSD_")}
    with log.open("wb") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=environ)


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    require_engine()
    docker_compose()
    project = "dnsdtest-" + uuid.uuid4().hex[:8]
    env: dict[str, str] = {"DEMO_IMAGE": "dnsd-test-busybox:latest"}
    process = None
    log = tmp_path / "dnsd.log"
    try:
        env, gateway = _up_web(project)
        http_port = free_port()
        process = _start_dnsd(gateway, http_port, log)
        yield Demo(project, env, gateway, f"http://127.0.0.1:{http_port}", log)
    finally:
        if process is not None:
            stop_process(process, 10)
        compose("-p", project, "down", "--remove-orphans", "-t", "1", env=env)


def eventually(check: Callable[[], bool], what: str, demo: Demo, seconds: float = 90) -> None:
    end = time.monotonic() + seconds
    last = ""
    while time.monotonic() < end:
        try:
            if check():
                return
        except (OSError, RuntimeError, ValueError) as exc:
            last = str(exc)
        time.sleep(0.5)
    raise AssertionError(
        f"{what} did not happen within {seconds}s ({last})\n{demo.log.read_text()}"
    )


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.docker
def test_demo_client_resolves_the_scaled_service(demo: Demo) -> None:
    eventually(lambda: _get(demo.api + "/ready")[0] == 200, "dnsd ready", demo)
    web_ips = demo.web_ips()
    assert len(web_ips) == 3

    network = f"{demo.project}_dnsd"  # other projects on a shared engine may run a `web` too

    def registered() -> bool:
        status, view = _get(f"{demo.api}/v1/records/web?network={network}")
        return status == 200 and isinstance(view, dict) and len(view["endpoints"]) == 3

    eventually(registered, "three web endpoints registered", demo)
    answers: list[str] = []

    def client_resolves() -> bool:
        out = compose(
            "-p", demo.project, "run", "--rm", "--no-deps", "-T", "client",
            "nslookup", "web.docker", env=demo.env, timeout=60,
        )  # fmt: skip
        answers[:] = re.findall(r"Address(?: \d+)?:\s+(10\.\S+)", out)
        return set(answers) == web_ips

    eventually(client_resolves, "the client resolving web.docker to every replica", demo)

    ls = subprocess.run(
        [sys.executable, "-m", "dnsd", "ls", "--api", demo.api, "--name", "web",
         "--network", network],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ls.returncode == 0, ls.stderr
    assert {line.split()[1] for line in ls.stdout.splitlines()[1:]} == web_ips


ENTRYPOINT = ROOT / "compose" / "entrypoint.sh"


@pytest.mark.docker
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            "serve --http-listen 0.0.0.0:8053",
            "serve --dns-listen {ip}:53 --http-listen 0.0.0.0:8053",
        ),
        ("serve --dns-listen 10.9.9.9:53", "serve --dns-listen 10.9.9.9:53"),
        ("ls --json", "ls --json"),
    ],
)
def test_image_entrypoint_listens_on_the_containers_own_address(
    args: str, expected: str, tmp_path: Path
) -> None:
    """Not 0.0.0.0: a wildcard listener would make dnsd skip 127.0.0.11, its upstream there."""
    require_engine()
    image = build_test_image()
    fake = tmp_path / "dnsd"
    fake.write_text('#!/bin/sh\necho "$*"\n')
    fake.chmod(0o755)
    name = f"dnsdtest-{uuid.uuid4().hex[:8]}"
    out = docker(
        "run", "--rm", "--name", name,
        "-v", f"{ENTRYPOINT}:/entrypoint.sh:ro", "-v", f"{fake}:/bin/dnsd:ro",
        image, "sh", "-c", f"hostname -i; sh /entrypoint.sh {args}",
    )  # fmt: skip
    addresses, printed = out.strip().splitlines()
    ip = next(a for a in addresses.split() if ":" not in a)
    assert printed == expected.format(ip=ip)
