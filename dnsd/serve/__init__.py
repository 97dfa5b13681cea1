"""Serving DNS: the query pipeline, the encoded-reply fast path and the UDP/TCP shells.

Moves bytes between sockets and the pure core (`dnsd.core`) and the forwarder;
makes no DNS decisions of its own.
"""
