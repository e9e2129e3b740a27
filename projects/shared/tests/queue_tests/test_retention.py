"""Retention: final jobs older than the kept age go in bounded batches, with their results.

Job ages are set by rewriting ``created_at``/``finished_at`` (the prune compares
them with the database's ``now()``); everything else goes through the queue's
own statements. ``test_pruning_matches_the_model`` checks random histories
against the rule itself: a job goes exactly when it is final and finished
before the cutoff, no batch deletes more than its bound, and datasets stay.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from backtest_shared.datasets.store import DatasetInfo
from backtest_shared.db.pool import open_pool
from backtest_shared.db.urls import psycopg_url
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_shared.jobs.retention import Pruned
from backtest_shared.jobs.retention import prune_batch
from backtest_testing.seed import job_for
from backtest_testing.seed import outcome_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from backtest_testing.seed import table_rows

DAY = 86400.0
#: Kept age in the tests: ages are whole days, so none falls on the cutoff.
KEEP = 30.5 * DAY

RESET = """
TRUNCATE users, api_keys, datasets, bundles, backtest_jobs, job_queue, job_results, job_finish_log, workers CASCADE
"""
AGE = """
UPDATE backtest_jobs
   SET created_at = now() - %(created_days)s * interval '1 day',
       finished_at = CASE WHEN finished_at IS NOT NULL THEN now() - %(finished_days)s * interval '1 day' END
 WHERE id = %(id)s
"""
STATUS = "SELECT id, status FROM backtest_jobs"


@dataclass(frozen=True)
class Planned:
    status: str
    created_days: int
    finished_days: int


async def _history(
    queue: JobQueue,
    pool: AsyncConnectionPool[Any],
    user: uuid.UUID,
    dataset: DatasetInfo,
    plan: list[Planned],
    bundle_id: uuid.UUID | None = None,
) -> dict[uuid.UUID, Planned]:
    """Jobs in the planned states, aged as planned: claimed ones first, then those left waiting."""
    order = {"succeeded": 0, "failed": 1, "running": 2, "cancelled": 3, "pending": 4}
    plan = sorted(plan, key=lambda p: order[p.status])
    if bundle_id is None:
        ids = await queue.enqueue(user, [job_for(dataset)] * len(plan))
    else:
        ids, _ = await queue.enqueue_reusing(user, [job_for(dataset)] * len(plan), bundle_id=bundle_id, reuse=False)
    jobs = dict(zip(ids, plan, strict=False))
    claimed_count = sum(p.status in ("succeeded", "failed", "running") for p in plan)
    claimed = await queue.claim(uuid.uuid4(), claimed_count) if claimed_count else []
    assert len(claimed) == claimed_count
    for job in claimed:
        status = jobs[job.id].status
        if status == "succeeded":
            await queue.complete([outcome_for(job)])
        elif status == "failed":
            assert await queue.fail(Lease(job.id, job.lease_token), "boom", retry=False) == "failed"
    await queue.cancel([i for i, p in jobs.items() if p.status == "cancelled"])
    async with pool.connection() as conn:
        for job_id, p in jobs.items():
            await conn.execute(AGE, {"id": job_id, "created_days": p.created_days, "finished_days": p.finished_days})
    assert await _statuses(pool) == {i: p.status for i, p in jobs.items()}
    return jobs


async def _prune_until_short(pool: AsyncConnectionPool[Any], batch: int) -> list[Pruned]:
    batches = []
    async with pool.connection() as conn:
        while True:
            pruned = await prune_batch(conn, KEEP, batch)
            batches.append(pruned)
            assert pruned.jobs <= batch and pruned.bundles <= batch
            if pruned.short_of(batch):
                return batches


def _prunable(p: Planned) -> bool:
    return p.status in ("succeeded", "failed", "cancelled") and p.finished_days > KEEP / DAY


async def _statuses(pool: AsyncConnectionPool[Any]) -> dict[uuid.UUID, str]:
    async with pool.connection() as conn:
        return dict(await (await conn.execute(STATUS)).fetchall())


async def _result_jobs(pool: AsyncConnectionPool[Any]) -> set[uuid.UUID]:
    async with pool.connection() as conn:
        return {row[0] for row in await (await conn.execute("SELECT job_id FROM job_results")).fetchall()}


planned = st.builds(
    lambda status, created, finished_back: Planned(status, created, max(0, created - finished_back)),
    st.sampled_from(["pending", "running", "succeeded", "failed", "cancelled"]),
    st.integers(min_value=0, max_value=60),
    st.integers(min_value=0, max_value=40),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=st.lists(planned, min_size=1, max_size=12), batch=st.integers(min_value=1, max_value=4))
def test_pruning_matches_the_model(database_url: str, plan: list[Planned], batch: int) -> None:
    async def example() -> None:
        pool = await open_pool(database_url, min_size=1, max_size=2)
        try:
            async with pool.connection() as conn:
                await conn.execute(RESET)
            queue = JobQueue(
                pool,
                QueueSettings(lease_seconds=60.0, retry_backoff_base_seconds=600.0, retry_backoff_cap_seconds=3600.0),
            )
            user = await seed_user(pool)
            dataset = await seed_dataset(pool, user)
            jobs = await _history(queue, pool, user, dataset, plan)

            batches = await _prune_until_short(pool, batch)

            expected = {i: p.status for i, p in jobs.items() if not _prunable(p)}
            assert await _statuses(pool) == expected
            assert sum(b.jobs for b in batches) == len(jobs) - len(expected)
            assert await _result_jobs(pool) == {i for i, s in expected.items() if s == "succeeded"}
            assert await table_rows(pool, "datasets") == 1
        finally:
            await pool.close()

    asyncio.run(example())


async def test_a_batch_deletes_at_most_its_bound_oldest_first(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    jobs = await _history(queue, pool, user, dataset, [Planned("succeeded", 40 + d, 40 + d) for d in range(5)])
    oldest_first = sorted(jobs, key=lambda i: -jobs[i].created_days)

    async with pool.connection() as conn:
        assert await prune_batch(conn, KEEP, 2) == Pruned(jobs=2, bundles=0)
        assert set(await _statuses(pool)) == set(oldest_first[2:])
        assert await prune_batch(conn, KEEP, 2) == Pruned(jobs=2, bundles=0)
        assert await prune_batch(conn, KEEP, 2) == Pruned(jobs=1, bundles=0)
    assert await table_rows(pool, "backtest_jobs") == 0
    assert await table_rows(pool, "job_results") == 0


async def test_jobs_not_final_are_kept_even_with_a_finish_time_before_the_cutoff(queue: JobQueue, pool) -> None:
    # A job that is waiting or running never goes, whatever its timestamps say.
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    jobs = await _history(queue, pool, user, dataset, [Planned("running", 50, 0), Planned("pending", 50, 0)])
    async with pool.connection() as conn:
        await conn.execute("UPDATE backtest_jobs SET finished_at = now() - interval '45 days'")
        assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=0, bundles=0)
    assert set(await _statuses(pool)) == set(jobs)


async def test_a_job_reusing_a_pruned_result_keeps_its_own_copy(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    [old] = await _history(queue, pool, user, dataset, [Planned("succeeded", 40, 40)])
    [new], reused = await queue.enqueue_reusing(user, [job_for(dataset)])
    assert reused == {new: old}

    async with pool.connection() as conn:
        assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=1, bundles=0)
    assert await queue.get_result(old) is None
    assert await queue.get_result(new) is not None


async def test_a_bundle_goes_once_its_last_job_is_pruned(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    bundle_id = uuid.uuid4()
    await queue.create_bundle(
        user, bundle_id, [job_for(dataset)] * 2, name=None, rank_by="sharpe", request={}, reuse=False
    )
    [first, second] = await queue.claim(uuid.uuid4(), 2)
    await queue.complete([outcome_for(first), outcome_for(second)])
    async with pool.connection() as conn:
        await conn.execute("UPDATE bundles SET created_at = now() - interval '40 days'")
        await conn.execute(AGE, {"id": first.id, "created_days": 40, "finished_days": 40})
        await conn.execute(AGE, {"id": second.id, "created_days": 40, "finished_days": 1})
        # One job still within the kept age: the bundle stays with it.
        assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=1, bundles=0)
        await conn.execute(AGE, {"id": second.id, "created_days": 40, "finished_days": 35})
        assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=1, bundles=1)
    assert await table_rows(pool, "bundles") == 0
    assert await table_rows(pool, "datasets") == 1


async def test_a_recent_bundle_without_jobs_is_kept(queue: JobQueue, pool) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await queue.create_bundle(
        user, uuid.uuid4(), [job_for(dataset)], name=None, rank_by="sharpe", request={}, reuse=False
    )
    async with pool.connection() as conn:
        await conn.execute("DELETE FROM backtest_jobs")
        assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=0, bundles=0)
    assert await table_rows(pool, "bundles") == 1


async def test_a_prune_skips_a_job_another_transaction_holds_and_does_not_wait(
    queue: JobQueue, pool, database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    jobs = await _history(queue, pool, user, dataset, [Planned("succeeded", 40, 40), Planned("failed", 41, 41)])
    held, free = sorted(jobs)
    async with await psycopg.AsyncConnection.connect(psycopg_url(database_url)) as holder:
        await holder.execute("SELECT 1 FROM backtest_jobs WHERE id = %s FOR UPDATE", (held,))
        async with pool.connection() as conn:
            await conn.execute("SET statement_timeout = '5s'")
            assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=1, bundles=0)
            await conn.execute("RESET statement_timeout")
        assert set(await _statuses(pool)) == {held}
        await holder.rollback()
    async with pool.connection() as conn:
        assert await prune_batch(conn, KEEP, 10) == Pruned(jobs=1, bundles=0)
    assert free not in await _statuses(pool)


async def test_a_job_completed_while_the_prune_runs_is_kept(queue: JobQueue, pool) -> None:
    # Created long ago but still running: its completion, racing the prune, makes
    # it finished now, which is within the kept age.
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user)
    await _history(queue, pool, user, dataset, [Planned("running", 50, 0)] * 3 + [Planned("succeeded", 50, 50)] * 3)

    async def prune() -> int:
        async with pool.connection() as conn:
            return (await prune_batch(conn, KEEP, 10)).jobs

    async with pool.connection() as conn:
        leases = await (
            await conn.execute("SELECT id, lease_token FROM backtest_jobs WHERE status = 'running'")
        ).fetchall()
    outcomes = [
        JobOutcome(lease=Lease(i, t), metrics={"sharpe": 1.0}, equity_curve=[[0, 1.0]], trades=[]) for i, t in leases
    ]
    pruned, completed = await asyncio.gather(prune(), queue.complete(outcomes))
    assert pruned == 3
    assert set(completed.values()) == {"succeeded"}
    assert sorted((await _statuses(pool)).values()) == ["succeeded"] * 3
    assert await _result_jobs(pool) == set(await _statuses(pool))


@pytest.mark.parametrize(("keep_seconds", "batch"), [(0.0, 10), (-1.0, 10), (DAY, 0)])
async def test_a_prune_refuses_a_keep_forever_age_or_an_empty_batch(pool, keep_seconds: float, batch: int) -> None:
    async with pool.connection() as conn:
        with pytest.raises(ValueError):
            await prune_batch(conn, keep_seconds, batch)
