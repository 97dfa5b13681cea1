"""The real engine: networks reach the registry as data; a container going away leaves at once.

Uses only user-defined networks the test creates. `docker stop` sends the stop signal
first (a `kill` event) and the container is out of the registry from that event on, while it
is still running its shutdown; a reload signal (HUP) changes nothing; a container that
survives a stopping signal comes back at the next inspect.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.docker_support import DockerLab, Watched, cli, docker, eventually, ip_on

pytestmark = pytest.mark.docker

TRAP_TERM = ("sh", "-c", "trap 'echo term' TERM; while true; do sleep 0.2; done")
SLOW_EXIT = ("sh", "-c", "trap 'sleep 3; exit 0' TERM; while true; do sleep 0.2; done")


async def test_networks_are_published_with_subnets_and_gateways(
    lab: DockerLab, watched: Watched
) -> None:
    net = lab.network("net")
    subnet = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Subnet}}", net)
    gateway = docker("network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", net)

    def published() -> bool:
        found = [n for n in watched.snapshot.networks() if n.name == net]
        return bool(found) and found[0].subnets == (subnet,) and found[0].gateways == (gateway,)

    await eventually(published, "the new network in the registry")
    assert subnet in watched.snapshot.subnets()
    await cli("network", "rm", net)
    lab.networks.remove(net)
    await eventually(lambda: subnet not in watched.snapshot.subnets(), "removed network gone")


async def test_stop_takes_the_container_out_before_it_has_exited(
    lab: DockerLab, watched: Watched
) -> None:
    net = lab.network("net")
    box = lab.run("slow", "--network", net, cmd=SLOW_EXIT)
    await eventually(lambda: watched.snapshot.has_name(box), "registered")
    stopping = asyncio.create_task(cli("stop", "-t", "20", box))
    await eventually(lambda: not watched.snapshot.has_name(box), "out on the stop signal")
    assert docker("inspect", "-f", "{{.State.Running}}", box) == "true"  # still shutting down
    await stopping


async def test_a_reload_signal_keeps_it_and_a_survived_stop_signal_brings_it_back(
    lab: DockerLab, watched: Watched
) -> None:
    watched.watcher.recheck_after = 1.0
    net = lab.network("net")
    box = lab.run("trap", "--network", net, cmd=TRAP_TERM)
    address = ip_on(box, net)
    await eventually(lambda: watched.snapshot.has_name(box), "registered")
    await cli("kill", "-s", "HUP", box)
    marker = lab.run("marker", "--network", net)  # an event after the HUP's
    await eventually(lambda: watched.snapshot.has_name(marker), "marker registered")
    assert watched.snapshot.resolve(box).addresses == (address,)
    await cli("kill", "-s", "TERM", box)
    await eventually(lambda: not watched.snapshot.has_name(box), "out on SIGTERM")
    await eventually(
        lambda: watched.snapshot.resolve(box).addresses == (address,), "back: it kept running"
    )
