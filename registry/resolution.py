"""What a name resolves to for one client: the rotation rule and the isolation rule applied
to the endpoints that claim it.

`resolution(view, key, claimants, policy)` is the answer `Snapshot.resolve` gives once it has
found the claimants; the change history uses it too (a record's answer is derived from the
claimants it saw). `in_rotation` is the rotation rule (the explain view uses it as well).
Pure: no I/O, no index.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from registry.model import Endpoint
from registry.view import ClientView, prefer_project, visible_addresses, visible_endpoints


class UnhealthyPolicy(StrEnum):
    """What a name answers when every endpoint behind it is out for health.

    SERVE_ALL (fail open) answers the not-paused endpoints anyway, so a service
    whose replicas are all `starting` or `unhealthy` is still reachable;
    EMPTY answers no addresses (NOERROR, no data).
    """

    SERVE_ALL = "serve-all"
    EMPTY = "empty"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a name resolves to for one client; `exists` is False for an unknown name.

    `hidden` is True when the name is registered but nothing behind it is visible to
    this client (the isolation rule): for that client it does not exist.
    """

    exists: bool
    addresses: tuple[str, ...] = ()
    endpoints: tuple[Endpoint, ...] = ()
    hidden: bool = False


NOT_FOUND = Resolution(exists=False)
HIDDEN = Resolution(exists=False, hidden=True)
FOUND = Resolution(exists=True)


def resolution(
    view: ClientView, key: str, claimants: tuple[Endpoint, ...], policy: UnhealthyPolicy
) -> Resolution:
    """What name `key`, claimed by `claimants` (in stable order), resolves to for the client
    `view`: HIDDEN when none of them is visible to it."""
    seen = visible_endpoints(view, claimants)
    if not seen:
        return HIDDEN
    chosen = in_rotation(prefer_project(view, key, seen), policy)
    return Resolution(True, visible_addresses(view, chosen), chosen)


def in_rotation(claimants: tuple[Endpoint, ...], policy: UnhealthyPolicy) -> tuple[Endpoint, ...]:
    """The rotation rule: suspended endpoints (paused, or withdrawn Swarm tasks) and remote
    ones no client here can reach are out; unhealthy ones too, unless every live one is
    unhealthy and the policy fails open. The explain view uses this same function."""
    live = tuple(ep for ep in claimants if ep.live)
    healthy = tuple(ep for ep in live if ep.healthy)
    if healthy or policy is UnhealthyPolicy.EMPTY:
        return healthy
    return live
