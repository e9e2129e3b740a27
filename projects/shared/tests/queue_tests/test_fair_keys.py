"""Fair keys: unique per owner across pending and running jobs, whatever runs concurrently.

Regressions, each of which made a claim, a reap or an enqueue violate a unique
index on ``job_queue`` (and so stopped every worker):
- a user who submitted while their own job ran got that job's key again;
- two concurrent enqueues of one user, when the first restarted the user's keys
  at the head and so left the counter at the very number the second had read.
"""

from __future__ import annotations

import asyncio
import uuid

from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def _keys(pool: AsyncConnectionPool, owner: uuid.UUID) -> list[int]:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT fair_key FROM job_queue WHERE owner_id = %s ORDER BY fair_key", (owner,))
        return [row[0] for row in await cur.fetchall()]


async def test_a_user_submitting_while_their_job_runs_gets_a_key_of_its_own_and_both_jobs_finish(
    queue: JobQueue, pool: AsyncConnectionPool
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    worker = uuid.uuid4()
    [first] = await queue.enqueue(user, [job_for(dataset)])
    [running] = await queue.claim(worker, 2)

    [second] = await queue.enqueue(user, [job_for(dataset)])
    finished, [next_job] = await queue.complete_and_claim([outcome_for(running)], worker, 1)
    await queue.complete([outcome_for(next_job)])

    assert finished == {first: "succeeded"}
    assert next_job.id == second
    assert await queue.counts_by_status() == {"succeeded": 2}


async def test_a_newcomer_is_not_queued_behind_a_user_whose_running_jobs_hold_high_keys(
    queue: JobQueue, pool: AsyncConnectionPool
) -> None:
    heavy = await seed_user(pool)
    newcomer = await seed_user(pool)
    heavy_data = await seed_dataset(pool, heavy)
    newcomer_data = await seed_dataset(pool, newcomer)
    await queue.enqueue(heavy, [job_for(heavy_data)] * 50)
    await queue.claim(uuid.uuid4(), 50)  # the queue is now empty, the heavy user's keys run to 49

    [mine] = await queue.enqueue(newcomer, [job_for(newcomer_data)])
    await queue.enqueue(heavy, [job_for(heavy_data)] * 20)

    claimed = [job.id for job in await queue.claim(uuid.uuid4(), 2)]
    assert mine in claimed


async def test_concurrent_enqueues_of_one_user_never_share_a_key_when_the_counter_comes_back_to_its_value(
    queue: JobQueue, pool: AsyncConnectionPool
) -> None:
    other = await seed_user(pool)
    user = await seed_user(pool)
    other_data = await seed_dataset(pool, other)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(other, [job_for(other_data)])  # the head: key 0
    async with pool.connection() as conn:
        # Long ago the user drew keys up to 3; nothing of theirs waits or runs now.
        await conn.execute("UPDATE users SET fair_tail = 3 WHERE id = %s", (user,))
    jobs = [job_for(dataset)] * 3
    params = queue._reusing_params(
        user,
        jobs,
        [uuid.uuid4() for _ in jobs],
        bundle_id=None,
        priority=0,
        max_attempts=3,
        timeout_seconds=3600,
        max_pending=None,
        reuse=False,
    )

    async with pool.connection() as conn, conn.transaction():
        # Restarts the user's keys at the head: 0..2, and the counter at 3 again.
        await conn.execute(queue_sql.ENQUEUE, params)
        concurrent = asyncio.create_task(queue.enqueue(user, jobs))
        await asyncio.sleep(0.5)  # its snapshot predates this commit; it waits for the counter's lock
    await concurrent

    keys = await _keys(pool, user)
    assert len(keys) == len(set(keys)) == 6
