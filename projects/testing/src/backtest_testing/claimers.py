"""Claim loops run in threads or processes by the concurrency tests and benchmarks."""

from __future__ import annotations

import asyncio
import uuid

from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue


async def _drain(database_url: str, batch: int, as_worker: bool) -> list[str]:
    pool = await open_pool(database_url, min_size=1, max_size=1, generic_plans=as_worker)
    queue = JobQueue(pool)
    worker_id = uuid.uuid4()
    claimed: list[str] = []
    try:
        jobs = await queue.claim(worker_id, batch)
        while jobs:
            claimed.extend(str(job.id) for job in jobs)
            outcomes = [
                JobOutcome(lease=Lease(job.id, job.lease_token), metrics={}, equity_curve=[], trades=[]) for job in jobs
            ]
            if as_worker:
                _, jobs = await queue.complete_and_claim(outcomes, worker_id, batch)
            else:
                await queue.complete(outcomes)
                jobs = await queue.claim(worker_id, batch)
        return claimed
    finally:
        await pool.close()


def drain_queue(database_url: str, batch: int, as_worker: bool = False) -> list[str]:
    """Claim and complete until nothing is left; returns the ids this claimer got.

    ``as_worker``: with the compute worker's generic plans and its combined
    complete-and-claim statement, instead of separate custom-planned ones.
    """
    return asyncio.run(_drain(database_url, batch, as_worker))
