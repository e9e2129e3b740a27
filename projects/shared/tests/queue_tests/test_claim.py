import uuid

import psycopg

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_finished_history
from backtest_testing.seed import seed_user


async def test_claim_marks_jobs_running_with_a_fresh_lease(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    [job_id] = await queue.enqueue(user, [job_for(dataset)])
    worker = uuid.uuid4()

    [claimed] = await queue.claim(worker, 5)

    state = await queue.get(job_id)
    assert claimed.id == job_id
    assert claimed.attempt == 1
    assert state is not None and state.status == "running"
    assert state.worker_id == worker
    assert state.lease_token == claimed.lease_token
    assert state.lease_expires_at is not None and state.started_at is not None
    assert await queue.claim(uuid.uuid4(), 5) == []


async def test_higher_priority_jobs_are_claimed_first(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    low = await queue.enqueue(user, [job_for(dataset)] * 3, priority=0)
    high = await queue.enqueue(user, [job_for(dataset)] * 2, priority=10)

    first = await queue.claim(uuid.uuid4(), 2)

    assert {job.id for job in first} == set(high)
    assert {job.id for job in await queue.claim(uuid.uuid4(), 10)} == set(low)


async def test_one_users_backlog_does_not_delay_another_users_single_job(queue: JobQueue, pool) -> None:
    heavy = await seed_user(pool)
    light = await seed_user(pool)
    heavy_data = await seed_dataset(pool, heavy)
    light_data = await seed_dataset(pool, light)
    await queue.enqueue(heavy, [job_for(heavy_data)] * 10_000)
    worker = uuid.uuid4()
    await queue.claim(worker, 10)  # the queue is already moving

    [single] = await queue.enqueue(light, [job_for(light_data)])
    next_round = await queue.claim(worker, 2)

    assert single in {job.id for job in next_round}


async def test_users_take_turns_when_both_have_backlogs(queue: JobQueue, pool) -> None:
    first = await seed_user(pool)
    second = await seed_user(pool)
    first_data = await seed_dataset(pool, first)
    second_data = await seed_dataset(pool, second)
    await queue.enqueue(first, [job_for(first_data)] * 100)
    await queue.enqueue(second, [job_for(second_data)] * 100)

    batch = await queue.claim(uuid.uuid4(), 20)

    owners = [job.owner_id for job in batch]
    assert owners.count(first) == 10
    assert owners.count(second) == 10


async def test_per_user_running_cap_is_honoured_across_claims(queue: JobQueue, pool) -> None:
    capped = await seed_user(pool, max_running_jobs=2)
    other = await seed_user(pool)
    capped_data = await seed_dataset(pool, capped)
    other_data = await seed_dataset(pool, other)
    await queue.enqueue(capped, [job_for(capped_data)] * 10)
    await queue.enqueue(other, [job_for(other_data)] * 3)

    first = await queue.claim(uuid.uuid4(), 10)
    second = await queue.claim(uuid.uuid4(), 10)

    assert sum(job.owner_id == capped for job in first) == 2
    assert sum(job.owner_id == other for job in first) == 3
    assert second == []


async def test_jobs_waiting_for_backoff_are_not_claimed(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    [job_id] = await queue.enqueue(user, [job_for(dataset)])
    [claimed] = await queue.claim(uuid.uuid4(), 1)

    status = await queue.fail(_lease(claimed), "boom", retry=True)

    assert status == "pending"
    assert await queue.claim(uuid.uuid4(), 1) == []


def _lease(job):
    from backtest_shared.jobs.models import Lease

    return Lease(job.id, job.lease_token)


async def test_claim_query_takes_the_head_of_the_queue_index_with_a_long_history(
    queue: JobQueue, pool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)] * 10_000)
    await seed_finished_history(pool, user, dataset.id, 300_000)  # as after months of use
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await conn.execute("ANALYZE job_queue")
        cur = await conn.execute(
            "EXPLAIN " + queue_sql.CLAIM,
            {"worker_id": uuid.uuid4(), "limit": 10, "lease_seconds": 30},
        )
        plan = "\n".join(row[0] for row in await cur.fetchall())

    assert "job_queue_claim_idx" in plan, plan
    assert "Seq Scan on backtest_jobs" not in plan, plan
