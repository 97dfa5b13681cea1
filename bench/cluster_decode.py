"""`python -m bench.cluster_decode`: µs per value of the cluster decoder against the reference
decoder (tests/cluster/reference_decode.py, the decoder before its caches), interleaved in one
process, and the memory each one's 100,000 decoded endpoints take (tracemalloc, each in a fresh
subprocess). Values are `bench.cluster_scale.synthetic` endpoints, as `encode` writes them.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable

from bench.cluster_scale import synthetic
from registry import Endpoint
from tests.cluster import reference_decode
from watchers.cluster import decode as fast
from watchers.cluster.codec import encode
from watchers.cluster.member import DECODE_SLICE

Decoder = Callable[[bytes, str, str], Endpoint]
DECODERS: dict[str, Decoder] = {"old": reference_decode.decode, "new": fast.decode}


def values(nodes: int, per_node: int) -> list[tuple[bytes, str, str]]:
    return [
        (encode(synthetic(n, i), f"127.0.{n}.1"), f"n{n}", f"docker/id{i}")
        for n in range(nodes)
        for i in range(per_node)
    ]


def timed(decoder: Decoder, batch: list[tuple[bytes, str, str]]) -> float:
    """µs per value for one pass, as the member's load decodes: the endpoints are kept, and
    what is alive is frozen after every slice of values (`BulkLoad.grew`)."""
    kept = []
    start = time.perf_counter()
    for at in range(0, len(batch), DECODE_SLICE):
        kept += [decoder(*value) for value in batch[at : at + DECODE_SLICE]]
        gc.freeze()
    elapsed = time.perf_counter() - start
    del kept
    return elapsed / len(batch) * 1e6


def speed(rounds: int, nodes: int, per_node: int) -> dict[str, list[float]]:
    batch = values(nodes, per_node)
    for raw, node, endpoint_id in batch:
        assert fast.decode(raw, node, endpoint_id) == reference_decode.decode(
            raw, node, endpoint_id
        )
    gc.collect()
    gc.freeze()  # as the member's bulk load does: what exists stays out of the collector's way
    times: dict[str, list[float]] = {name: [] for name in DECODERS}
    for _ in range(rounds):
        for name, decoder in DECODERS.items():
            times[name].append(timed(decoder, batch))
    return times


def memory(name: str, nodes: int, per_node: int) -> int:
    """Bytes allocated by decoding nodes x per_node values and keeping the endpoints (and, for
    the new decoder, its caches); the values and ids themselves are not counted."""
    decoder = DECODERS[name]
    batch = values(nodes, per_node)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = [decoder(raw, node, endpoint_id) for raw, node, endpoint_id in batch]
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    assert len(kept) == len(batch)
    return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7, help="passes per decoder, alternated")
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--per-node", type=int, default=2000)
    parser.add_argument("--memory-endpoints", type=int, default=100_000)
    parser.add_argument("--memory-of", choices=sorted(DECODERS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    per_node = args.memory_endpoints // args.nodes
    if args.memory_of:  # the subprocess half of the memory figure
        print(json.dumps(memory(args.memory_of, args.nodes, per_node)))
        return 0
    times = speed(args.rounds, args.nodes, args.per_node)
    count = args.nodes * args.per_node
    print(f"decode {count} values, {args.rounds} interleaved passes each (µs per value):")
    for name, runs in times.items():
        print(f"  {name}: median {statistics.median(runs):.1f}, range {min(runs):.1f}-"
              f"{max(runs):.1f}")  # fmt: skip
    ratios = [old / new for old, new in zip(times["old"], times["new"], strict=True)]
    print(f"  old/new per pass: median {statistics.median(ratios):.2f}, range "
          f"{min(ratios):.2f}-{max(ratios):.2f}")  # fmt: skip
    print(f"memory of {args.nodes * per_node} decoded endpoints (tracemalloc):")
    for name in DECODERS:
        argv = [sys.executable, "-m", "bench.cluster_decode", "--memory-of", name]
        argv += ["--nodes", str(args.nodes), "--memory-endpoints", str(args.memory_endpoints)]
        used = int(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)
        print(f"  {name}: {used / 2**20:.1f} MiB, {used / (args.nodes * per_node):.0f} B each")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
