"""Upstream order by health: penalised upstreams go last until the penalty ends or they answer."""

from __future__ import annotations

from dnsd.forward.pool import UpstreamPool, label

A, B, C = ("10.0.0.1", 53), ("10.0.0.2", 53), ("2001:db8::3", 5353)


def order(pool: UpstreamPool, now: float) -> list[tuple[str, int]]:
    return [state.address for state in pool.ordered(now)]


def test_configured_order_without_duplicates_and_labels() -> None:
    pool = UpstreamPool([A, B, A, C])
    assert order(pool, 0.0) == [A, B, C]
    assert [label(u) for u in (A, C)] == ["10.0.0.1:53", "[2001:db8::3]:5353"]
    assert bool(pool) and not UpstreamPool([])


def test_a_failed_upstream_goes_last_for_the_penalty_then_returns() -> None:
    pool = UpstreamPool([A, B, C], penalty=30.0)
    first = pool.ordered(0.0)[0]
    pool.failed(first, now=100.0)
    assert order(pool, 110.0) == [B, C, A]
    assert pool.healthy(110.0) == 2
    assert order(pool, 130.0) == [A, B, C]


def test_an_answer_clears_the_penalty() -> None:
    pool = UpstreamPool([A, B])
    state = pool.ordered(0.0)[0]
    pool.failed(state, now=0.0)
    pool.answered(state)
    assert order(pool, 1.0) == [A, B] and pool.healthy(1.0) == 2
