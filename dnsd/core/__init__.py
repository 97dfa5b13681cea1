"""The pure DNS core: bytes and snapshots in, decisions and bytes out.

Nothing here does I/O: no asyncio, no sockets, no logging, no clock
(`tests/test_architecture.py` enforces it). Imports only `registry` and `dnsd.core`.
"""
