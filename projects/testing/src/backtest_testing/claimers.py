"""Claim loops run in threads or processes by the concurrency tests and benchmarks."""

from __future__ import annotations

import asyncio
import uuid

from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue


async def _drain(database_url: str, batch: int) -> list[str]:
    pool = await open_pool(database_url, min_size=1, max_size=1)
    queue = JobQueue(pool)
    worker_id = uuid.uuid4()
    claimed: list[str] = []
    try:
        while True:
            jobs = await queue.claim(worker_id, batch)
            if not jobs:
                return claimed
            claimed.extend(str(job.id) for job in jobs)
            await queue.complete(
                [
                    JobOutcome(lease=Lease(job.id, job.lease_token), metrics={}, equity_curve=[], trades=[])
                    for job in jobs
                ]
            )
    finally:
        await pool.close()


def drain_queue(database_url: str, batch: int) -> list[str]:
    """Claim and complete until nothing is left; returns the ids this claimer got."""
    return asyncio.run(_drain(database_url, batch))
