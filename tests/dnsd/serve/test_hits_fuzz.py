"""Hostile datagrams through the C hit path on real sockets: bursts of fuzzed packets
(tests/dnsd/fuzz_support.py, and hypothesis-made variants of cached queries) mixed with
queries that are in the tables. The C-hit server must stay up and answer exactly like the
Python path (`--udp-batch 0`) on the same store: byte for byte, per client, same metrics.
"""

from __future__ import annotations

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dnsd.serve.batch import binding
from registry import Resync, Store
from tests.dnsd.core_support import crowd, sample_endpoints
from tests.dnsd.fuzz_support import SEEDS, packets
from tests.dnsd.serve.hits_support import Pair, make_query, pair

pytestmark = pytest.mark.skipif(binding() is None, reason="recvmmsg extension not built")
CLIENTS = {"a": "127.0.0.1", "b": "127.0.0.1"}
CACHED = [
    make_query("web.docker.", 1),
    make_query("many.docker.", 2),
    make_query("nope.docker.", 3, "AAAA"),
    *SEEDS,
]


def new_store() -> Store:
    store = Store()
    store.apply(Resync("test", (*sample_endpoints(), *crowd(5))))
    return store


def assert_same(p: Pair) -> None:
    assert p.c.replies == p.python.replies
    assert p.c.metrics.queries == p.python.metrics.queries
    assert p.c.metrics.dropped_packets == p.python.metrics.dropped_packets


async def fuzz_bursts(p: Pair, hostile: list[bytes], size: int = 24) -> None:
    """`hostile` in bursts of `size`, each datagram after a cached query, clients alternating."""
    who = itertools.cycle(CLIENTS)
    await p.burst([(next(who), q) for q in CACHED])  # fill the tables
    for start in range(0, len(hostile), size):
        burst = []
        for i, packet in enumerate(hostile[start : start + size]):
            burst += [(next(who), packet), (next(who), CACHED[i % len(CACHED)])]
        await p.burst(burst)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_fuzzed_bursts_get_the_python_paths_replies(seed: int) -> None:
    async with pair(new_store(), CLIENTS) as p:
        await fuzz_bursts(p, list(packets(240, seed)))
        assert_same(p)
        assert p.c.served_in_c > 240  # the cached queries between them were C hits


def variant(base: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    """A cached query with bytes replaced (position modulo its length) and maybe cut short."""
    packet = bytearray(base)
    for position, value in edits:
        packet[position % len(packet)] = value
    return bytes(packet[: max(0, len(packet) - cut)])


near_hits = st.builds(
    variant,
    st.sampled_from(CACHED),
    st.lists(st.tuples(st.integers(0, 600), st.integers(0, 255)), max_size=3),
    st.sampled_from([0, 0, 0, 1, 5, 20]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(near_hits, st.binary(max_size=80)), min_size=1, max_size=30))
def test_near_hits_and_random_bytes_get_the_python_paths_replies(hostile: list[bytes]) -> None:
    async def run() -> None:
        async with pair(new_store(), CLIENTS) as p:
            await fuzz_bursts(p, hostile)
            assert_same(p)

    asyncio.run(run())
