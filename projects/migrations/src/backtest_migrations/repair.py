"""Operator repairs of queue state that a restart alone cannot fix."""

from __future__ import annotations

import asyncio

from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.repository import JobQueue


async def _repair_queue(database_url: str) -> tuple[int, int]:
    pool = await open_pool(database_url, min_size=1, max_size=1, application_name="backtest-migrations")
    try:
        return await JobQueue(pool).repair_fair_keys()
    finally:
        await pool.close()


def repair_queue(database_url: str) -> tuple[int, int]:
    """Restore the queue's fair-key invariant; returns (jobs re-keyed, counters raised)."""
    return asyncio.run(_repair_queue(database_url))
