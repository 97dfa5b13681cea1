"""The workloads: which names exist, which are asked, and the files that say so.

Pure text generation plus writing files into a directory the caller owns. Every
server gets the same workload; only the spelling of local names differs (Docker's
embedded DNS answers bare container names, dnsd and dnsmasq the `.docker` zone).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

ZONE = "docker"
SINGLE = "target"
ROUND_ROBIN = "rr"
ROUND_ROBIN_SIZE = 10
MISSING = tuple(f"missing-{i}" for i in range(10))
FORWARDED = tuple(f"fwd-{i}.bench.test" for i in range(10))
MANY_PREFIX = "name-"


class Spelling(enum.Enum):
    """How a server expects local names: zone-qualified (`target.docker`) or bare (`target`)."""

    ZONE = "zone"
    BARE = "bare"


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    forwarding: bool = False


SCENARIOS = (
    Scenario("single", "one name"),
    Scenario("roundrobin", f"{ROUND_ROBIN_SIZE}-address round-robin name"),
    Scenario("nxmix", "90% hits / 10% NXDOMAIN"),
    Scenario("forwarded", "cached forwarded names", forwarding=True),
)
SCENARIO_KEYS = tuple(s.key for s in SCENARIOS)


def local(name: str, spelling: Spelling) -> str:
    return f"{name}.{ZONE}" if spelling is Spelling.ZONE else name


def query_lines(scenario: str, spelling: Spelling) -> list[str]:
    """dnsperf input lines (`NAME A`) for one scenario; dnsperf cycles through them."""
    if scenario == "single":
        return [f"{local(SINGLE, spelling)} A"]
    if scenario == "roundrobin":
        return [f"{local(ROUND_ROBIN, spelling)} A"]
    if scenario == "nxmix":
        hits = [f"{local(SINGLE, spelling)} A"] * 9
        # Unknown names are zone-qualified for every server: dnsd and dnsmasq own the
        # zone; Docker forwards them to the stub upstream, which owns it too.
        return [line for miss in MISSING for line in (*hits, f"{miss}.{ZONE} A")]
    if scenario == "forwarded":
        return [f"{name} A" for name in FORWARDED]
    raise ValueError(f"unknown scenario {scenario!r}; expected one of {SCENARIO_KEYS}")


def many_names(count: int) -> list[str]:
    return [f"{MANY_PREFIX}{i:05d}" for i in range(count)]


def many_query_lines(count: int) -> list[str]:
    return [f"{name}.{ZONE} A" for name in many_names(count)]


def address(block: int, index: int) -> str:
    """A distinct private IPv4 address: 10.<block>.<index // 250>.<index % 250 + 1>."""
    return f"10.{block}.{index // 250}.{index % 250 + 1}"


def local_hosts(spelling: Spelling, many: int = 0) -> list[str]:
    """Hosts-format lines of the local names (dnsd records file or dnsmasq --addn-hosts)."""
    lines = [f"{address(77, 0)} {local(SINGLE, spelling)}"]
    rr = local(ROUND_ROBIN, spelling)
    lines += [f"{address(77, 100 + i)} {rr}" for i in range(ROUND_ROBIN_SIZE)]
    lines += [f"{address(78, i)} {local(n, spelling)}" for i, n in enumerate(many_names(many))]
    return lines


def upstream_hosts() -> list[str]:
    """Hosts lines of the stub upstream: the names only reachable by forwarding."""
    return [f"{address(79, i)} {name}" for i, name in enumerate(FORWARDED)]


def write(directory: Path, filename: str, lines: list[str]) -> Path:
    path = directory / filename
    path.write_text("\n".join(lines) + "\n")
    return path
