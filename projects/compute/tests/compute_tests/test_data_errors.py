"""A worker never crash-loops on bad queue data: it backs off, keeps its jobs alive and says it is degraded.

The bad data is the real thing earlier enqueues left behind: a pending job on
the same (owner, fair_key) as a running job of that owner, which makes a claim
(or a reap) violate a unique index on every try.
"""

from __future__ import annotations

import uuid

import msgspec
from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs.repository import JobQueue
from backtest_testing.clock import DatabaseClock
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from compute_tests.helpers import fast_settings
from compute_tests.helpers import fetchall
from compute_tests.helpers import running_worker
from compute_tests.helpers import slow_strategy
from compute_tests.helpers import wait_until

#: A pending job holding the key of job %(twin)s (of the same owner), in one statement so no claim sees it before.
CLASHING_JOB = """
WITH twin AS (
    SELECT owner_id, dataset_id, priority, fair_key FROM backtest_jobs WHERE id = %(twin)s
), job AS (
    INSERT INTO backtest_jobs (id, owner_id, dataset_id, priority, fair_key, config, config_hash, run_after)
    SELECT %(id)s, owner_id, dataset_id, priority, fair_key, %(config)s::json, %(hash)s,
           now() + %(delay)s * interval '1 second'
      FROM twin
    RETURNING id, owner_id, priority, fair_key, run_after
)
INSERT INTO job_queue (job_id, owner_id, priority, fair_key, run_after)
SELECT id, owner_id, priority, fair_key, run_after FROM job
"""


async def _add_clashing_job(pool: AsyncConnectionPool, twin: uuid.UUID, dataset, delay: float = 0.0) -> uuid.UUID:
    job = job_for(dataset)
    job_id = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            CLASHING_JOB,
            {
                "twin": twin,
                "id": job_id,
                "config": msgspec.json.encode(job.config.to_json_dict()).decode(),
                "hash": job.config_hash,
                "delay": delay,
            },
        )
    return job_id


async def _status(queue: JobQueue, job_id: uuid.UUID) -> tuple[str, int]:
    state = await queue.get(job_id)
    assert state is not None
    return state.status, state.attempts


async def _degraded(pool: AsyncConnectionPool) -> str | None:
    rows = await fetchall(pool, "SELECT degraded FROM workers WHERE stopped_at IS NULL")
    return rows[0][0] if rows else None


async def test_a_claim_failing_on_bad_data_leaves_the_worker_running_and_degraded_until_it_succeeds(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=100_000)
    [slow] = await queue.enqueue(user, [job_for(dataset, slow_strategy(60))])

    async with running_worker(fast_settings(database_url)) as worker:
        await wait_until(lambda: _is(queue, slow, "running"), timeout=30)
        clashing = await _add_clashing_job(pool, slow, dataset)
        await wait_until(lambda: _mentions(pool, "job_queue_claimed_idx"), timeout=15)

        assert await _status(queue, slow) == ("running", 1)

        # The running job kept its lease through the failing claims: it ran once and
        # succeeded; its key is then free, and the claim that kept failing goes through.
        await wait_until(lambda: _is(queue, slow, "succeeded"), timeout=60)
        assert await _status(queue, slow) == ("succeeded", 1)
        await wait_until(lambda: _is(queue, clashing, "succeeded"), timeout=60)
        await wait_until(lambda: _healthy(pool), timeout=10)

    assert worker.stats.finished == {"succeeded": 2}


async def test_a_reaper_failing_on_bad_data_does_not_stop_the_claimer(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    owner = await seed_user(pool)
    dataset = await seed_dataset(pool, owner, n_bars=500)
    [lost] = await queue.enqueue(owner, [job_for(dataset)])
    [claimed] = await queue.claim(uuid.uuid4(), 1)  # a worker that then dies: its lease expires
    assert claimed.id == lost
    assert await DatabaseClock(pool).expire_leases(jobs=[lost]) == 1
    # Waiting, not yet claimable, on the lost job's key: returning the lost job to the queue clashes with it.
    blocker = await _add_clashing_job(pool, lost, dataset, delay=3600)
    other = await seed_user(pool)
    other_dataset = await seed_dataset(pool, other, n_bars=500)

    async with running_worker(fast_settings(database_url)) as worker:
        await wait_until(lambda: _mentions(pool, "job_queue_pending_idx"), timeout=15)
        [fresh] = await queue.enqueue(other, [job_for(other_dataset)])
        await wait_until(lambda: _is(queue, fresh, "succeeded"), timeout=30)

        # Once the blocker goes, the reaper returns the lost job, and it runs.
        await queue.cancel([blocker])
        await wait_until(lambda: _is(queue, lost, "succeeded"), timeout=30)
        await wait_until(lambda: _healthy(pool), timeout=10)

    assert worker.stats.finished.get("succeeded", 0) >= 1


async def _is(queue: JobQueue, job_id: uuid.UUID, status: str) -> bool:
    return (await _status(queue, job_id))[0] == status


async def _mentions(pool: AsyncConnectionPool, text: str) -> bool:
    degraded = await _degraded(pool)
    return degraded is not None and text in degraded


async def _healthy(pool: AsyncConnectionPool) -> bool:
    rows = await fetchall(pool, "SELECT degraded FROM workers WHERE stopped_at IS NULL")
    return bool(rows) and rows[0][0] is None
