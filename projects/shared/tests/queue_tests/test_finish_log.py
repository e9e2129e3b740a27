"""The finish log: one row per statement that brings jobs to a final state, read by queue statistics."""

import uuid

from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_testing.clock import DatabaseClock
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_finished_history
from backtest_testing.seed import seed_user
from backtest_testing.seed import table_rows


async def logged_totals(pool) -> tuple[int, int, int, int]:
    """(succeeded, failed, cancelled, run times) summed over the whole log."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT coalesce(sum(succeeded), 0), coalesce(sum(failed), 0), coalesce(sum(cancelled), 0),"
            " coalesce(sum(cardinality(run_seconds)), 0) FROM job_finish_log"
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def test_every_way_to_a_final_state_is_logged_by_status(queue: JobQueue, pool, clock: DatabaseClock) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    distinct = [job_for(dataset, {**STRATEGY_A_EXAMPLE, "costs": {"fee_bps": float(i)}}) for i in range(8)]
    ids = await queue.enqueue(user, distinct, max_attempts=1)
    jobs = await queue.claim(uuid.uuid4(), 6)
    assert [job.id for job in jobs] == ids[:6]

    await queue.complete([outcome_for(jobs[0]), outcome_for(jobs[1])])  # 2 succeeded
    await queue.fail(Lease(jobs[2].id, jobs[2].lease_token), "boom", retry=False)  # failed
    await queue.cancel([jobs[3].id])  # running: only flagged ...
    await queue.complete([outcome_for(jobs[3])])  # ... cancelled as it completes
    await queue.release([Lease(jobs[4].id, jobs[4].lease_token)])  # back to pending: not final
    await queue.cancel([ids[6]])  # pending: cancelled at once
    await clock.advance(31)  # past the 30 s lease of the job still running
    assert set((await queue.reap_expired()).values()) == {"failed"}  # jobs[5], its only attempt
    _, reused = await queue.enqueue_reusing(user, [distinct[0]])  # answered by jobs[0]'s result
    assert list(reused.values()) == [jobs[0].id]

    counts = await queue.counts_by_status()
    assert await logged_totals(pool) == (counts["succeeded"], counts["failed"], counts["cancelled"], 2)
    assert (counts["succeeded"], counts["failed"], counts["cancelled"]) == (3, 2, 2)


async def test_statements_that_finish_nothing_log_nothing(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.enqueue(user, [job_for(dataset)], max_attempts=3)
    [job] = await queue.claim(uuid.uuid4(), 1)

    await queue.fail(Lease(job.id, job.lease_token), "transient", retry=True)  # back to pending
    await queue.complete([outcome_for(job)])  # a lost lease: fenced out
    await queue.reap_expired()

    assert await logged_totals(pool) == (0, 0, 0, 0)
    assert await table_rows(pool, "job_finish_log") == 0  # not even rows of zeros


async def test_pruning_keeps_the_last_quarter_hour_of_the_log(queue: JobQueue, pool) -> None:
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO job_finish_log (finished_at, succeeded, failed, cancelled, run_seconds)"
            " VALUES (now() - interval '16 minutes', 5, 0, 0, '{1,2,3,4,5}'),"
            " (now() - interval '14 minutes', 1, 0, 0, '{1}')"
        )

    assert await queue.prune_finish_log() == 1
    assert await logged_totals(pool) == (1, 0, 0, 1)


async def test_queue_statistics_do_not_scan_the_job_history(queue: JobQueue, pool) -> None:
    # Regression: queue stats and every metrics scrape counted finished jobs in
    # backtest_jobs, a scan of the whole history (0.8 s at a million jobs).
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await seed_finished_history(pool, user, dataset.id, 20_000)
    async with pool.connection() as conn:
        await conn.execute("ANALYZE backtest_jobs")
        for statement in (queue_sql.QUEUE_DEPTH, queue_sql.QUEUE_STATS, queue_sql.RECENT_RUN_SECONDS):
            cur = await conn.execute("EXPLAIN " + statement)
            plan = "\n".join(row[0] for row in await cur.fetchall())
            assert "backtest_jobs" not in plan, plan
