"""The worker survives a PostgreSQL restart (its own embedded server, stopped and started mid-run)."""

import asyncio
from collections.abc import Iterator

import pytest

from backtest_compute.worker import Worker
from backtest_shared.db.pool import open_pool
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.postgres import EmbeddedPostgres
from backtest_testing.postgres import create_migrated_template
from backtest_testing.postgres import embedded_postgres
from backtest_testing.postgres import fresh_database
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from compute_tests.helpers import all_final
from compute_tests.helpers import fast_settings
from compute_tests.helpers import fetchall
from compute_tests.helpers import slow_strategy
from compute_tests.helpers import status_counts
from compute_tests.helpers import wait_until


@pytest.fixture
def own_server() -> Iterator[tuple[EmbeddedPostgres, str]]:
    """Always a private embedded server (even with TEST_DATABASE_URL set): this test stops it."""
    with embedded_postgres() as server:
        template = create_migrated_template(server.url)
        with fresh_database(server.url, template) as url:
            yield server, url


async def test_all_jobs_complete_although_the_database_restarts_mid_run(
    own_server: tuple[EmbeddedPostgres, str],
) -> None:
    server, url = own_server
    pool = await open_pool(url, min_size=1, max_size=4)
    try:
        queue = JobQueue(pool)
        user = await seed_user(pool)
        dataset = await seed_dataset(pool, user, n_bars=10_000)
        # A job in flight during the outage may lose its lease once, so allow a spare attempt.
        await queue.enqueue(user, [job_for(dataset, slow_strategy(1))] * 200, max_attempts=5)

        worker = Worker(fast_settings(url, concurrency=2, lease_seconds=3.0, heartbeat_interval=0.5))
        run = asyncio.create_task(worker.run())
        try:

            async def some_done() -> bool:
                return (await status_counts(pool)).get("succeeded", 0) >= 40

            await wait_until(some_done, timeout=60, interval=0.05)
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(server.start)

            await wait_until(lambda: all_final(pool), timeout=120, interval=0.3)
            assert not run.done(), "the worker must carry on after the restart"
        finally:
            worker.request_stop()
            async with asyncio.timeout(60):
                exit_code = await run
        assert exit_code == 0
        assert await status_counts(pool) == {"succeeded": 200}
        [[results]] = await fetchall(pool, "SELECT count(*) FROM job_results")
        assert results == 200
    finally:
        await pool.close()
