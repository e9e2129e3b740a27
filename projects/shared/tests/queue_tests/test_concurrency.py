import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import ThreadPoolExecutor

from backtest_shared.jobs.repository import JobQueue
from backtest_testing.claimers import drain_queue
from backtest_testing.seed import job_for
from backtest_testing.seed import queue_table_mismatches
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user


async def _fill(queue: JobQueue, pool, users: int, jobs_per_user: int) -> set[str]:
    ids: set[str] = set()
    for _ in range(users):
        user = await seed_user(pool)
        dataset = await seed_dataset(pool, user)
        ids.update(str(i) for i in await queue.enqueue(user, [job_for(dataset)] * jobs_per_user))
    return ids


async def test_parallel_threads_claim_every_one_of_10000_jobs_exactly_once(queue: JobQueue, pool, database_url) -> None:
    expected = await _fill(queue, pool, users=4, jobs_per_user=2_500)

    with ThreadPoolExecutor(max_workers=4) as executor:
        claimed = list(executor.map(drain_queue, [database_url] * 4, [1, 7, 10, 50]))

    counts = Counter(job for per_thread in claimed for job in per_thread)
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    assert await queue.counts_by_status() == {"succeeded": 10_000}
    assert await queue_table_mismatches(pool) == []


async def test_parallel_processes_claim_every_one_of_10000_jobs_exactly_once(
    queue: JobQueue, pool, database_url
) -> None:
    expected = await _fill(queue, pool, users=3, jobs_per_user=3_334)

    with ProcessPoolExecutor(max_workers=3, mp_context=multiprocessing.get_context("spawn")) as executor:
        claimed = list(executor.map(drain_queue, [database_url] * 3, [10, 25, 100], [True, True, False]))

    counts = Counter(job for per_process in claimed for job in per_process)
    assert set(counts) == expected
    assert set(counts.values()) == {1}
    assert await queue_table_mismatches(pool) == []
