"""Client views: which clients get the same answers, as a hashable key.

The key is the isolation rule's `ClientView` (`registry.view`): the networks the client is on
(a known container's, or the Docker network whose subnet holds the address of one not yet
registered; `None` networks for everyone else) and its Compose project. Clients with equal
views get equal answers, so the fast path keeps one table of encoded replies per view and
resolves a client's address to its table with one dict lookup. Pure: it must not do I/O or
build answers.
"""

from __future__ import annotations

from registry import FULL_VIEW, ClientView, Snapshot

View = ClientView

SHARED: View = FULL_VIEW  # every client outside the Docker networks (the host, loopback, ...)


def client_view(snapshot: Snapshot, client: str) -> View:
    """The view `client` (an address; '' when unknown) gets in `snapshot`."""
    return snapshot.view_of(client) if client else SHARED
