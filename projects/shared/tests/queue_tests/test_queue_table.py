"""``job_queue`` holds exactly the pending and running jobs, whatever happens to them."""

import asyncio
import multiprocessing
import random
import uuid
from concurrent.futures import ProcessPoolExecutor

import pytest

from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_testing.claimers import drain_queue
from backtest_testing.seed import job_for
from backtest_testing.seed import queue_table_mismatches
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


@pytest.fixture
def queue_settings() -> QueueSettings:
    return QueueSettings(lease_seconds=0.3, retry_backoff_base_seconds=0.2, retry_backoff_cap_seconds=1.0)


def _outcome(job) -> JobOutcome:
    return JobOutcome(lease=Lease(job.id, job.lease_token), metrics={}, equity_curve=[], trades=[])


async def _queue_rows(pool) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute("SELECT count(*) FROM job_queue")
        row = await cur.fetchone()
    return int(row[0])


async def test_the_queue_table_follows_every_change_of_status(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    ids = await queue.enqueue(user, [job_for(dataset)] * 7)
    assert await queue_table_mismatches(pool) == []

    done, retried, failed, released, cancelled_running, reaped = await queue.claim(uuid.uuid4(), 6)
    assert await queue_table_mismatches(pool) == []

    assert await queue.complete([_outcome(done)]) == {done.id: "succeeded"}
    assert await queue.fail(Lease(retried.id, retried.lease_token), "boom", retry=True) == "pending"
    assert await queue.fail(Lease(failed.id, failed.lease_token), "boom", retry=False) == "failed"
    assert await queue.release([Lease(released.id, released.lease_token)]) == {released.id: "pending"}
    assert await queue.cancel([cancelled_running.id, ids[6]]) == {cancelled_running.id: "running", ids[6]: "cancelled"}
    assert await queue_table_mismatches(pool) == []

    assert await queue.complete([_outcome(cancelled_running)]) == {cancelled_running.id: "cancelled"}
    await asyncio.sleep(0.4)  # the last lease expires
    assert await queue.reap_expired() == {reaped.id: "pending"}
    assert await queue_table_mismatches(pool) == []
    assert await _queue_rows(pool) == 3  # retried, released and reaped wait again

    await asyncio.sleep(1.0)  # their retry backoff
    again = await queue.claim(uuid.uuid4(), 10)
    assert {job.id for job in again} == {retried.id, released.id, reaped.id}
    await queue.complete([_outcome(job) for job in again])
    assert await queue_table_mismatches(pool) == []
    assert await _queue_rows(pool) == 0


async def test_claims_heartbeats_and_completions_write_no_index_entries(queue: JobQueue, pool) -> None:
    # The reason for job_queue: every claim and completion used to be a non-HOT
    # update of backtest_jobs (its partial indexes on status), index writes included.
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)] * 20)  # one owner's jobs: rows that share pages
    worker = uuid.uuid4()
    jobs = await queue.claim(worker, 20)
    await queue.heartbeat(worker, [Lease(job.id, job.lease_token) for job in jobs])
    await queue.complete([_outcome(job) for job in jobs])

    async with asyncio.timeout(20):
        while True:  # statistics reach the view within a second or so of going idle
            async with pool.connection() as conn:
                cur = await conn.execute(
                    "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'backtest_jobs'"
                )
                updates, hot_updates = await cur.fetchone()
            if updates >= 60:
                break
            await asyncio.sleep(0.2)
    assert (updates, hot_updates) == (60, 60)


async def test_deleting_a_user_deletes_their_jobs_queue_rows(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)] * 3)
    await queue.claim(uuid.uuid4(), 1)

    async with pool.connection() as conn:
        await conn.execute("DELETE FROM users WHERE id = %s", (user,))

    assert await _queue_rows(pool) == 0


async def test_cancels_racing_worker_claims_leave_the_queue_table_in_step(queue: JobQueue, pool, database_url) -> None:
    users = [await seed_user(pool) for _ in range(3)]
    ids: list[uuid.UUID] = []
    for user in users:
        ids += await queue.enqueue(user, [job_for(await seed_dataset(pool, user))] * 1_500)
    chance = random.Random(7)

    async def cancel_while_they_drain() -> None:
        for _ in range(60):
            await queue.cancel(chance.sample(ids, 20))
            await asyncio.sleep(0.005)

    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as executor:
        loop = asyncio.get_running_loop()
        drains = [loop.run_in_executor(executor, drain_queue, database_url, batch, True) for batch in (5, 20)]
        await cancel_while_they_drain()
        await asyncio.gather(*drains)

    counts = await queue.counts_by_status()
    assert set(counts) <= {"succeeded", "cancelled"} and sum(counts.values()) == 4_500
    assert await queue_table_mismatches(pool) == []
    assert await _queue_rows(pool) == 0
