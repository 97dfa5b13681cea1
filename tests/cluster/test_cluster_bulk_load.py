"""A big cluster load is kept out of the garbage collector's view; a small one is left alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from watchers.cluster.bulk_load import BulkLoad


@pytest.fixture(autouse=True)
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_small_load_freezes_nothing() -> None:
    load = BulkLoad()
    load.start()
    load.settled()
    load.done()
    assert gc.get_freeze_count() == 0 and not load.loading


def test_a_big_load_freezes_what_it_built_until_it_is_applied() -> None:
    load = BulkLoad()
    load.start()
    load.grew()
    built = [[i] for i in range(1000)]  # what the next event's snapshot holds
    frozen = gc.get_freeze_count()
    load.settled()
    assert gc.get_freeze_count() >= frozen + len(built)
    load.done()
    assert not load.loading
    gc.unfreeze()
    load.settled()  # after the load: nothing more is frozen
    assert gc.get_freeze_count() == 0


def test_the_collector_stays_on() -> None:
    load = BulkLoad()
    load.start()
    load.grew()
    assert gc.isenabled()
    load.done()
    assert gc.isenabled()


async def test_applied_is_set_when_the_load_is_done() -> None:
    load = BulkLoad()
    assert load.applied.is_set()  # no load yet
    load.start()
    assert not load.applied.is_set()
    load.done()
    assert load.applied.is_set()
