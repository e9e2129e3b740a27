"""Results have no foreign key to their job; a trigger deletes them with the job."""

import uuid

from backtest_shared.datasets.store import DatasetInfo
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from backtest_testing.seed import table_rows


async def _finished_job(queue: JobQueue, user: uuid.UUID, dataset: DatasetInfo) -> uuid.UUID:
    [job_id] = await queue.enqueue(user, [job_for(dataset)])
    [job] = await queue.claim(uuid.uuid4(), 1)
    await queue.complete([outcome_for(job, {"x": 1})])
    assert await queue.get_result(job_id) is not None
    return job_id


async def test_deleting_a_job_deletes_its_result(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    job_id = await _finished_job(queue, user, await seed_dataset(pool, user))

    async with pool.connection() as conn:
        await conn.execute("DELETE FROM backtest_jobs WHERE id = %s", (job_id,))

    assert await queue.get_result(job_id) is None


async def test_deleting_a_user_deletes_the_results_of_their_jobs_and_no_others(queue: JobQueue, pool) -> None:
    leaving = await seed_user(pool)
    staying = await seed_user(pool)
    await _finished_job(queue, leaving, await seed_dataset(pool, leaving))
    kept = await _finished_job(queue, staying, await seed_dataset(pool, staying))

    async with pool.connection() as conn:
        await conn.execute("DELETE FROM users WHERE id = %s", (leaving,))

    assert await table_rows(pool, "job_results") == 1
    assert await queue.get_result(kept) is not None


async def test_deleting_a_user_deletes_their_jobs_before_their_datasets_go(queue: JobQueue, pool) -> None:
    # The jobs' foreign key to users became a trigger (migration 0007); it must run
    # before the cascade to datasets, which jobs still referring to them would block.
    leaving = await seed_user(pool)
    staying = await seed_user(pool)
    await _finished_job(queue, leaving, await seed_dataset(pool, leaving))
    await _finished_job(queue, staying, await seed_dataset(pool, staying))
    await queue.enqueue(leaving, [job_for(await seed_dataset(pool, leaving))] * 3)

    async with pool.connection() as conn:
        await conn.execute("DELETE FROM users WHERE id = %s", (leaving,))

    assert await table_rows(pool, "backtest_jobs") == 1


async def test_deleting_a_bundle_deletes_its_jobs_and_their_results(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await _finished_job(queue, user, dataset)
    bundle_id = uuid.uuid4()
    await queue.create_bundle(
        user, bundle_id, [job_for(dataset)] * 3, name=None, rank_by="sharpe", request={}, reuse=False
    )
    [job] = await queue.claim(uuid.uuid4(), 1)
    await queue.complete([outcome_for(job)])

    async with pool.connection() as conn:
        await conn.execute("DELETE FROM bundles WHERE id = %s", (bundle_id,))

    assert await table_rows(pool, "backtest_jobs") == 1
    assert await table_rows(pool, "job_results") == 1
