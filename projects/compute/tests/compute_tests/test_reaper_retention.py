"""The active reaper prunes old finished jobs, one bounded batch per pass, and only when told to."""

import asyncio
import uuid

from backtest_compute.reaper import Reaper
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from backtest_testing.seed import table_rows
from compute_tests.helpers import wait_until

DAY = 86400.0


async def _finished_jobs(queue: JobQueue, pool, count: int, age_days: int) -> list[uuid.UUID]:
    user = await seed_user(pool)
    ids = await queue.enqueue(user, [job_for(await seed_dataset(pool, user))] * count)
    jobs = await queue.claim(uuid.uuid4(), count)
    await queue.complete([outcome_for(job) for job in jobs])
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE backtest_jobs SET created_at = now() - %(days)s * interval '1 day',"
            " finished_at = now() - %(days)s * interval '1 day' WHERE id = ANY(%(ids)s)",
            {"days": age_days, "ids": ids},
        )
    return ids


async def _run_for(reaper: Reaper, seconds: float) -> None:
    task = asyncio.create_task(reaper.run())
    try:
        await asyncio.sleep(seconds)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_the_reaper_prunes_old_finished_jobs_in_batches_and_keeps_recent_ones(
    queue: JobQueue, database_url: str, pool
) -> None:
    await _finished_jobs(queue, pool, 5, age_days=40)
    recent = await _finished_jobs(queue, pool, 2, age_days=1)
    reaper = Reaper(queue, database_url, "reaper", interval=0.1, retention_seconds=30 * DAY, retention_batch=2)
    task = asyncio.create_task(reaper.run())
    try:

        async def pruned() -> bool:
            return await table_rows(pool, "backtest_jobs") == len(recent)

        await wait_until(pruned, timeout=10)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert await table_rows(pool, "job_results") == len(recent)
    assert await table_rows(pool, "datasets") == 2


async def test_the_reaper_keeps_everything_when_retention_is_off(queue: JobQueue, database_url: str, pool) -> None:
    await _finished_jobs(queue, pool, 3, age_days=400)
    await _run_for(Reaper(queue, database_url, "reaper", interval=0.1), 1.0)
    assert await table_rows(pool, "backtest_jobs") == 3
