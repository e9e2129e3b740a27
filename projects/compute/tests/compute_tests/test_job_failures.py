from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs.repository import JobQueue
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from compute_tests.helpers import fast_settings
from compute_tests.helpers import fetchall
from compute_tests.helpers import running_worker
from compute_tests.helpers import slow_strategy
from compute_tests.helpers import wait_until


async def wait_for_status(queue: JobQueue, job_id, statuses: set[str], timeout: float) -> str:
    final: list[str] = []

    async def reached() -> bool:
        state = await queue.get(job_id)
        assert state is not None
        final[:] = [state.status]
        return state.status in statuses

    await wait_until(reached, timeout=timeout, interval=0.05)
    return final[0]


async def test_cancelled_running_job_is_stopped_and_ends_cancelled(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=100_000)
    [slow, quick] = await queue.enqueue(user, [job_for(dataset, slow_strategy(60)), job_for(dataset)])

    async with running_worker(fast_settings(database_url, concurrency=1, heartbeat_interval=1.5)) as worker:
        await wait_for_status(queue, slow, {"running"}, timeout=30)
        assert await queue.cancel([slow]) == {slow: "running"}
        await wait_for_status(queue, slow, {"cancelled", "succeeded", "failed"}, timeout=60)
        # The slot got a fresh process and went on with the next job.
        assert await wait_for_status(queue, quick, {"succeeded"}, timeout=30) == "succeeded"

    state = await queue.get(slow)
    assert state is not None and state.status == "cancelled"
    assert state.error == "cancelled by request"  # stopped by the worker, not flagged as it completed
    assert await queue.get_result(slow) is None
    assert worker.stats.finished == {"cancelled": 1, "succeeded": 1}


async def test_job_over_its_time_limit_fails_with_reason_timeout(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=100_000)
    [job_id] = await queue.enqueue(user, [job_for(dataset, slow_strategy(60))], timeout_seconds=1, max_attempts=3)

    async with running_worker(fast_settings(database_url, concurrency=1)):
        await wait_for_status(queue, job_id, {"running"}, timeout=30)
        await wait_for_status(queue, job_id, {"failed", "succeeded", "cancelled"}, timeout=60)

    state = await queue.get(job_id)
    assert state is not None and state.status == "failed"
    assert state.error == "timeout: exceeded 1 s"
    assert state.attempts == 1  # a timeout is final: the next attempt would time out too


async def test_poison_job_is_retried_then_fails_with_its_message_and_the_worker_goes_on(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    good = await seed_dataset(pool, user, n_bars=300, seed=1)
    poisoned = await seed_dataset(pool, user, n_bars=300, seed=2)
    async with pool.connection() as conn:
        await conn.execute("UPDATE datasets SET parquet = 'garbage' WHERE id = %(id)s", {"id": poisoned.id})
    [poison] = await queue.enqueue(user, [job_for(poisoned)], max_attempts=3)
    healthy = await queue.enqueue(user, [job_for(good)] * 5)

    async with running_worker(fast_settings(database_url, concurrency=1)) as worker:
        await wait_for_status(queue, poison, {"failed", "succeeded"}, timeout=30)
        for job_id in healthy:
            await wait_for_status(queue, job_id, {"succeeded"}, timeout=30)

    state = await queue.get(poison)
    assert state is not None and state.status == "failed"
    assert state.attempts == 3
    assert state.error is not None and state.error.startswith("loading dataset: ")
    assert worker.stats.finished == {"pending": 2, "failed": 1, "succeeded": 5}


async def test_invalid_input_fails_at_once_without_retries(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    too_short = await seed_dataset(pool, user, n_bars=30)
    [job_id] = await queue.enqueue(user, [job_for(too_short)], max_attempts=3)

    async with running_worker(fast_settings(database_url, concurrency=1)):
        await wait_for_status(queue, job_id, {"failed", "succeeded"}, timeout=30)

    state = await queue.get(job_id)
    assert state is not None and state.status == "failed" and state.attempts == 1
    assert state.error is not None and state.error.startswith("data: 30 bars are too few")
    assert await fetchall(pool, "SELECT 1 FROM job_results") == []


async def test_job_cancelled_while_pending_is_never_run(
    queue: JobQueue, pool: AsyncConnectionPool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=300)
    [job_id] = await queue.enqueue(user, [job_for(dataset)])
    assert await queue.cancel([job_id]) == {job_id: "cancelled"}

    async with running_worker(fast_settings(database_url, concurrency=1)) as worker:
        await wait_until(lambda: _idle(pool), timeout=5)

    state = await queue.get(job_id)
    assert state is not None and state.status == "cancelled" and state.attempts == 0
    assert worker.stats.claimed == 0


async def _idle(pool: AsyncConnectionPool) -> bool:
    [[alive]] = await fetchall(pool, "SELECT count(*) FROM workers WHERE heartbeat_at > started_at")
    return alive > 0
