"""Per-container order of concurrent inspections (`watchers.docker_order.Tickets`), as a table.

Each case is a sequence of steps for one or two containers: `start` (an inspection begins,
remembered under a label), `now` (a die/destroy applied at once) and `finish` (a labelled
inspection ends, expecting whether its result is applied).
"""

from __future__ import annotations

import pytest

from watchers.docker_order import Tickets

CASES = {
    "one inspection is applied": [("start", "a", "i1"), ("finish", "i1", True)],
    "out of order: the late older result is dropped": [
        ("start", "a", "i1"), ("start", "a", "i2"), ("finish", "i2", True), ("finish", "i1", False),
    ],
    "in order: both applied": [
        ("start", "a", "i1"), ("start", "a", "i2"), ("finish", "i1", True), ("finish", "i2", True),
    ],
    "a die after an inspect started beats it": [
        ("start", "a", "i1"), ("now", "a", ""), ("finish", "i1", False),
    ],
    "an inspect started after the die is applied": [
        ("start", "a", "i1"), ("now", "a", ""), ("start", "a", "i2"),
        ("finish", "i1", False), ("finish", "i2", True),
    ],
    "another container's slow inspect is independent": [
        ("start", "a", "i1"), ("start", "b", "j1"), ("now", "a", ""),
        ("finish", "j1", True), ("finish", "i1", False),
    ],
    "a die with nothing in flight leaves no state": [("now", "a", ""), ("start", "a", "i1"),
                                                      ("finish", "i1", True)],
}  # fmt: skip


@pytest.mark.parametrize("steps", CASES.values(), ids=CASES.keys())
def test_results_follow_the_newest_outcome_per_container(
    steps: list[tuple[str, str, object]],
) -> None:
    tickets = Tickets()
    started: dict[str, tuple[str, int]] = {}
    for op, who, arg in steps:
        if op == "start":
            started[str(arg)] = (who, tickets.start(who))
        elif op == "now":
            tickets.now(who)
        else:
            container, ticket = started[who]
            assert tickets.finish(container, ticket) is arg, (who, steps)
    assert len(tickets) == 0  # nothing is kept once no inspection is in flight
