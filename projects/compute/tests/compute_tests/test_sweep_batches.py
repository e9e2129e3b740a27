"""A worker runs a bundle's children in batches on one slot; each child stays a job of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from backtest_shared.engine import STRATEGY_B_EXAMPLE
from backtest_shared.engine import decode_strategy
from backtest_shared.engine import run_backtest
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.results import detail_is_complete
from backtest_testing.seed import job_for
from backtest_testing.seed import seed_dataset
from backtest_testing.seed import seed_user
from compute_tests.helpers import all_final
from compute_tests.helpers import fast_settings
from compute_tests.helpers import fetchall
from compute_tests.helpers import running_worker
from compute_tests.helpers import slow_strategy
from compute_tests.helpers import status_counts
from compute_tests.helpers import wait_until


def _variant(fast: int, slow: int) -> dict[str, Any]:
    strategy: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(STRATEGY_B_EXAMPLE))
    periods = iter((fast, slow))
    for indicator in strategy["indicators"].values():
        if "period" in indicator:
            indicator["period"] = next(periods, indicator["period"])
    return strategy


async def _bundle(queue: JobQueue, owner: uuid.UUID, jobs: list[Any]) -> list[uuid.UUID]:
    ids, _ = await queue.create_bundle(
        owner,
        uuid.uuid4(),
        jobs,
        name="sweep",
        rank_by="sharpe",
        request={},
        priority=0,
        max_pending=None,
        reuse=False,
    )
    return list(ids)


async def _running_here(pool: AsyncConnectionPool[Any], worker_id: uuid.UUID) -> list[uuid.UUID]:
    rows = await fetchall(
        pool,
        "SELECT id FROM backtest_jobs WHERE status = 'running' AND worker_id = %(w)s ORDER BY started_at",
        {"w": worker_id},
    )
    return [row[0] for row in rows]


async def test_a_bundles_children_run_in_batches_and_each_stores_the_metrics_it_would_alone(
    queue: JobQueue, pool: AsyncConnectionPool[Any], database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=2_000)
    grid = [(fast, slow) for fast in (5, 8, 12, 20) for slow in (30, 50, 80, 120, 200, 250)]
    ids = await _bundle(queue, user, [job_for(dataset, _variant(f, s)) for f, s in grid])

    async with running_worker(fast_settings(database_url, concurrency=1, sweep_batch=8)) as worker:
        await wait_until(lambda: all_final(pool), timeout=90)

    assert await status_counts(pool) == {"succeeded": len(grid)}
    assert worker.stats.batched >= len(grid) // 2, "children ran one by one, not in batches"
    assert worker.stats.claimed == len(grid)
    data = synthetic_ohlcv(2_000, seed=1)
    rows = await fetchall(
        pool, "SELECT job_id, metrics, detail FROM job_results WHERE job_id = ANY(%(ids)s)", {"ids": ids}
    )
    assert len(rows) == len(grid)
    by_id = {row[0]: row for row in rows}
    for job_id, (fast, slow) in zip(ids, grid, strict=True):
        _, metrics, detail = by_id[job_id]
        alone = run_backtest(data, decode_strategy(_variant(fast, slow)))
        assert metrics == msgspec.json.decode(msgspec.json.encode(alone.metrics)), (fast, slow)
        assert not detail_is_complete(detail), "a bundle child stores the summary form"


async def test_a_single_job_stores_its_complete_detail(
    queue: JobQueue, pool: AsyncConnectionPool[Any], database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=500)
    await queue.enqueue(user, [job_for(dataset, _variant(5, 30))])
    async with running_worker(fast_settings(database_url, concurrency=1)) as worker:
        await wait_until(lambda: all_final(pool), timeout=60)
    [[detail]] = await fetchall(pool, "SELECT detail FROM job_results")
    assert detail_is_complete(detail)
    assert worker.stats.batched == 0


async def test_cancelling_one_child_of_a_running_batch_cancels_it_alone(
    queue: JobQueue, pool: AsyncConnectionPool[Any], database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=20_000)
    ids = await _bundle(queue, user, [job_for(dataset, slow_strategy(3 + i)) for i in range(4)])

    async with running_worker(fast_settings(database_url, concurrency=1, sweep_batch=4)) as worker:

        async def batch_running() -> bool:
            return len(await _running_here(pool, worker.worker_id)) >= 2

        await wait_until(batch_running, timeout=30, interval=0.02)
        victim = (await _running_here(pool, worker.worker_id))[-1]
        cancelled = await queue.cancel([victim])
        assert cancelled[victim] == "running"
        await wait_until(lambda: all_final(pool), timeout=90)

    statuses = dict(await fetchall(pool, "SELECT id, status FROM backtest_jobs"))
    assert statuses[victim] == "cancelled"
    assert all(statuses[i] == "succeeded" for i in ids if i != victim)
    [[stored]] = await fetchall(pool, "SELECT count(*) FROM job_results WHERE job_id = %(id)s", {"id": victim})
    assert stored == 0


async def test_a_crash_mid_batch_retries_the_running_child_and_hands_back_the_rest_unchanged(
    queue: JobQueue, pool: AsyncConnectionPool[Any], database_url: str
) -> None:
    user = await seed_user(pool)
    dataset = await seed_dataset(pool, user, n_bars=20_000)
    ids = await _bundle(queue, user, [job_for(dataset, slow_strategy(20)) for _ in range(4)])

    async with running_worker(fast_settings(database_url, concurrency=1, sweep_batch=4)) as worker:

        async def batch_running() -> bool:
            return len(await _running_here(pool, worker.worker_id)) >= 2

        await wait_until(batch_running, timeout=30, interval=0.02)
        pid = worker._slots[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        await wait_until(lambda: all_final(pool), timeout=120)
        await asyncio.sleep(0)

    assert await status_counts(pool) == {"succeeded": 4}
    attempts = sorted(
        row[0]
        for row in await fetchall(pool, "SELECT attempts FROM backtest_jobs WHERE id = ANY(%(ids)s)", {"ids": ids})
    )
    # Only the child that was running when its process died spent an attempt on it.
    assert attempts == [1, 1, 1, 2]
