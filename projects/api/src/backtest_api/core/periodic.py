"""Background chores of each API process: one loop that survives the database going away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from collections.abc import Callable

import psycopg

logger = logging.getLogger(__name__)


async def run_every(interval_seconds: float, chore: Callable[[], Awaitable[None]], name: str) -> None:
    """Run ``chore`` now and then every ``interval_seconds`` until cancelled.

    A database error is logged and the chore tried again next round.
    """
    while True:
        try:
            await chore()
        except (psycopg.Error, OSError) as error:  # the database is away: try again next round
            logger.warning("%s failed: %s", name, error)
        await asyncio.sleep(interval_seconds)
