"""The event loop choice: run a coroutine on uvloop (when installed, or asked for) or asyncio.

Shared by `dnsd serve` and its --workers processes. It must not build anything else.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any


def run_loop(main: Coroutine[Any, Any, int], choice: str) -> int:
    """Run coroutine `main` on the chosen event loop (uvloop when available for 'auto')."""
    if choice in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if choice == "uvloop":
                print(
                    "dnsd: error: --event-loop uvloop: uvloop is not installed "
                    "(pip install 'dnsd[fast]')",
                    file=sys.stderr,
                )
                return 2
        else:
            result: int = uvloop.run(main)
            return result
    return asyncio.run(main)
