"""The fast path's memo of who a client is follows client-only addresses (docker_gwbridge).

A container's docker_gwbridge address is learned after its start (from the network's inspect);
the client asking from it must get the container's view on its very next query, though the
change touched none of the names it asks for.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

from dnsd.core.wire import Decision, Reply
from dnsd.serve.fastpath import FastPath, keep
from registry import Address, Remove, Resync, Store, Upsert
from tests.dnsd.core_support import SETTINGS, endpoint, parse, query

BASE = (
    endpoint("svc-front", "10.1.0.5", keys=("svc2",), network="front"),
    endpoint("svc-back", "10.2.0.5", keys=("svc2",), network="back"),
)
ME = endpoint("me", "10.1.0.9", network="front")
GW_IP = "172.18.0.9"


def test_a_client_gets_its_view_once_its_gwbridge_address_is_known() -> None:
    store = Store()
    store.apply(Resync("test", (*BASE, ME)))
    fast: FastPath[Decision] = FastPath(store, SETTINGS, Counter(), keep)

    def seen() -> list[str]:
        result = fast.udp(query("svc2.docker."), GW_IP)
        data = result.data if isinstance(result, Reply) else result  # a hit: the bytes
        assert isinstance(data, bytes)
        return sorted(rd.to_text() for rrset in parse(data).answer for rd in rrset)

    assert seen() == seen() == ["10.1.0.5", "10.2.0.5"]  # nobody in particular: every network
    known = dataclasses.replace(ME, client_addresses=(Address(GW_IP, "docker_gwbridge"),))
    store.apply(Upsert(known))
    assert seen() == seen() == ["10.1.0.5"]  # the container's own network only
    store.apply(Remove("test", "me"))
    assert seen() == ["10.1.0.5", "10.2.0.5"]
