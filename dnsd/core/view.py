"""Client views: which clients get the same answers, as a hashable key.

Answers depend on the client only when the client is itself a registered endpoint (network
and Compose-project preferences), so every other client shares the view `None`. The fast
path keeps one table of encoded replies per view, so a new rule for who sees what (e.g. the
client's set of visible networks) changes `client_view` and nothing else. Pure: it must not
do I/O or build answers.
"""

from __future__ import annotations

from collections.abc import Hashable

from registry import Snapshot

View = Hashable  # None: the view every unknown client shares

SHARED: View = None


def client_view(snapshot: Snapshot, client: str) -> View:
    """The view `client` gets in `snapshot`: its own address when it is a known endpoint."""
    return client if snapshot.endpoint_at(client) is not None else SHARED
