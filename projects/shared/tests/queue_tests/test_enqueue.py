import re
import uuid

import psycopg
import pytest

from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import PendingLimitExceededError
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def test_enqueued_job_is_pending_with_its_config_and_hash(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    job = job_for(dataset)

    [job_id] = await queue.enqueue(user, [job], priority=5)

    state = await queue.get(job_id)
    assert state is not None
    assert state.status == "pending"
    assert state.priority == 5
    assert state.attempts == 0
    assert state.config_hash == job.config_hash
    assert state.config["dataset_id"] == str(dataset.id)
    assert decode_backtest_config(state.config) == job.config


async def test_bulk_enqueue_inserts_ten_thousand_jobs_in_one_call(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    job = job_for(dataset)

    ids = await queue.enqueue(user, [job] * 10_000)

    assert len(set(ids)) == 10_000
    assert (await queue.counts_by_status()) == {"pending": 10_000}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"strategy": {}}, "dataset_id"),
        ({"dataset_id": "not-a-uuid", "strategy": {}}, "dataset_id"),
        ({"dataset_id": str(uuid.uuid4())}, "strategy"),
        ({"dataset_id": str(uuid.uuid4()), "strategy": {}, "extra": 1}, "extra"),
        ('{"dataset_id": ', "config"),
    ],
)
def test_invalid_config_is_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(JobConfigError) as error:
        decode_backtest_config(raw)  # type: ignore[arg-type]
    assert error.value.field == field


def test_invalid_strategy_is_refused_naming_the_nested_field() -> None:
    with pytest.raises(JobConfigError) as error:
        decode_backtest_config(
            {
                "dataset_id": str(uuid.uuid4()),
                "strategy": {
                    "indicators": {"fast": {"kind": "sma", "period": 0}},
                    "entry": {"combine": "all", "conditions": []},
                },
            }
        )
    assert error.value.field.startswith("strategy.")


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"priority": 1000}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
    ],
)
async def test_invalid_job_options_write_nothing(queue: JobQueue, pool, options: dict, field: str) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)

    with pytest.raises(JobConfigError) as error:
        await queue.enqueue(user, [job_for(dataset)], **options)

    assert error.value.field == field
    assert await queue.counts_by_status() == {}


async def test_batch_over_the_pending_limit_is_refused_whole(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)] * 8, max_pending=10)

    with pytest.raises(PendingLimitExceededError):
        await queue.enqueue(user, [job_for(dataset)] * 3, max_pending=10)

    assert await queue.counts_by_status() == {"pending": 8}
    await queue.enqueue(user, [job_for(dataset)] * 2, max_pending=10)
    assert await queue.counts_by_status() == {"pending": 10}


async def test_identical_finished_config_is_answered_from_the_earlier_result(queue: JobQueue, pool) -> None:
    from backtest_shared.jobs.models import JobOutcome
    from backtest_shared.jobs.models import Lease

    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    [first] = await queue.enqueue(user, [job_for(dataset)])
    [claimed] = await queue.claim(uuid.uuid4(), 1)
    await queue.complete(
        [JobOutcome(lease=Lease(claimed.id, claimed.lease_token), metrics={"sharpe": 2.0}, equity_curve=[], trades=[])]
    )

    [again], reused = await queue.enqueue_reusing(user, [job_for(dataset)])
    [fresh], not_reused = await queue.enqueue_reusing(user, [job_for(dataset)], reuse=False)

    assert reused == {again: first}
    assert (await queue.get(again)).status == "succeeded"  # type: ignore[union-attr]
    assert (await queue.get_result(again)).metrics == {"sharpe": 2.0}  # type: ignore[union-attr]
    assert not_reused == {}
    assert (await queue.get(fresh)).status == "pending"  # type: ignore[union-attr]


async def test_reused_jobs_do_not_count_towards_the_pending_limit(queue: JobQueue, pool) -> None:
    from backtest_shared.jobs.models import JobOutcome
    from backtest_shared.jobs.models import Lease

    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)])
    [claimed] = await queue.claim(uuid.uuid4(), 1)
    lease = Lease(claimed.id, claimed.lease_token)
    await queue.complete([JobOutcome(lease=lease, metrics={}, equity_curve=[], trades=[])])
    await queue.enqueue(user, [job_for(dataset, {**STRATEGY_B_EXAMPLE})], max_pending=1)

    ids, reused = await queue.enqueue_reusing(user, [job_for(dataset)], max_pending=1)

    assert set(reused) == set(ids)


async def test_pending_limit_counts_exactly_when_cancelled_jobs_leave_gaps(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    ids = await queue.enqueue(user, [job_for(dataset)] * 8, max_pending=10)
    await queue.cancel(ids[2:6])  # 4 still wait, but their keys span 8

    await queue.enqueue(user, [job_for(dataset)] * 6, max_pending=10)

    assert (await queue.counts_by_status())["pending"] == 10
    with pytest.raises(PendingLimitExceededError):
        await queue.enqueue(user, [job_for(dataset)], max_pending=10)


async def test_one_users_concurrent_enqueues_get_distinct_fair_keys(queue: JobQueue, pool) -> None:
    """Regression: simultaneous first enqueues of a user with nothing waiting reused the same keys."""
    import asyncio

    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)

    for _ in range(3):  # each round starts with nothing of the user's waiting
        ids = await asyncio.gather(*(queue.enqueue(user, [job_for(dataset)] * 3) for _ in range(8)))
        async with pool.connection() as conn:
            cur = await conn.execute(
                "SELECT count(DISTINCT fair_key), count(*) FROM backtest_jobs WHERE status = 'pending'"
            )
            assert await cur.fetchone() == (24, 24)
        await queue.cancel([job_id for batch in ids for job_id in batch])


async def test_identical_requests_still_waiting_are_not_visited_by_the_reuse_lookup(
    queue: JobQueue, pool, database_url: str
) -> None:
    # Regression: reuse looked results up through an index of all jobs by config
    # hash, so a user resubmitting a sweep made every enqueue visit each earlier,
    # still waiting copy of it (5,000 here) only to find none had finished.
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    job = job_for(dataset)
    await queue.enqueue(user, [job] * 5_000)
    params = queue._reusing_params(
        user,
        [job] * 10,
        [uuid.uuid4() for _ in range(10)],
        bundle_id=None,
        priority=0,
        max_attempts=3,
        timeout_seconds=3600,
        max_pending=None,
        reuse=True,
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        cur = await conn.execute("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) " + queue_sql.ENQUEUE, params)
        plan = "\n".join(row[0] for row in await cur.fetchall())

    assert "job_results_pkey" in plan, plan
    assert not re.search(r"Scan[^\n]* on backtest_jobs", plan), plan  # it only inserts there
