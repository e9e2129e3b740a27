"""Retention's cost to the hot path: claim+complete throughput with and without pruning alongside.

Seeds ``--old`` jobs finished 40 days ago (with results) over ``--users``
owners, then runs rounds of ``--jobs`` fresh jobs through claim and complete
(batches of ``--batch``), alternating rounds with a prune loop running beside
them (one bounded batch every ``--prune-interval`` seconds: 50 times as often as
the reaper's default pass, so that every such round deletes throughout) and
rounds without. Prints jobs/s per round, their ratio, the prune batches'
median time, and the share of HOT updates on ``backtest_jobs`` (claims and
completions must stay HOT: retention adds no index to that table).

    python bench_retention.py --database-url postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from typing import Any

from backtest_shared.accounts.store import create_user
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.db.pool import open_pool
from backtest_shared.db.urls import psycopg_url
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.retention import prune_batch
from backtest_testing.postgres import create_migrated_template
from backtest_testing.postgres import drop_database
from backtest_testing.postgres import fresh_database

KEEP = 30 * 86400.0
HOT = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'backtest_jobs'"


async def _jobs(pool: Any, users: int) -> list[tuple[uuid.UUID, QueuedJob]]:
    data = synthetic_ohlcv(200, seed=3)
    made = []
    for index in range(users):
        user = await create_user(pool, f"bench-{index}")
        dataset = await insert_dataset(pool, user, "bench", data)
        config = decode_backtest_config({"dataset_id": str(dataset.id), "strategy": STRATEGY_A_EXAMPLE})
        made.append(
            (user, QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash)))
        )
    return made


async def _run_through(queue: JobQueue, owners: list[tuple[uuid.UUID, QueuedJob]], jobs: int, batch: int) -> float:
    """Enqueue ``jobs``, then claim and complete them all; returns seconds for the claims and completions."""
    per = jobs // len(owners)
    for user, job in owners:
        await queue.enqueue(user, [job] * per)
    worker = uuid.uuid4()
    start = time.perf_counter()
    while claimed := await queue.claim(worker, batch):
        await queue.complete(
            [
                JobOutcome(
                    lease=Lease(j.id, j.lease_token), metrics={"sharpe": 1.0}, equity_curve=[[0, 1.0]], trades=[]
                )
                for j in claimed
            ]
        )
    return time.perf_counter() - start


async def _prune_loop(pool: Any, batch: int, interval: float, stop: asyncio.Event, times: list[float]) -> int:
    """One batch every ``interval`` seconds until ``stop``; ``times`` gets the batches that deleted jobs."""
    pruned = 0
    async with pool.connection() as conn:
        while not stop.is_set():
            start = time.perf_counter()
            done = await prune_batch(conn, KEEP, batch)
            if done.jobs:
                times.append(time.perf_counter() - start)
            pruned += done.jobs
            await asyncio.sleep(interval)
    return pruned


async def _hot(conn: Any) -> tuple[int, int]:
    """Updates and HOT updates of ``backtest_jobs`` so far (statistics are flushed at transaction end)."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    row = await (await conn.execute(HOT)).fetchone()
    return int(row[0]), int(row[1])


async def _bench(url: str, args: argparse.Namespace) -> None:
    pool = await open_pool(url, max_size=4)
    queue = JobQueue(pool)
    owners = await _jobs(pool, args.users)
    await _run_through(queue, owners, args.old, 100)
    async with pool.connection() as conn:
        await conn.execute(
            "UPDATE backtest_jobs SET created_at = now() - interval '41 days', finished_at = now() - interval '40 days'"
        )
        await conn.execute("VACUUM ANALYZE backtest_jobs, job_results, job_queue")
    rates: dict[bool, list[float]] = {False: [], True: []}
    prune_times: list[float] = []
    async with pool.connection() as conn:
        upd_before, hot_before = await _hot(conn)
    for round_ in range(args.rounds * 2):
        pruning = round_ % 2 == 1
        stop = asyncio.Event()
        pruner = (
            asyncio.create_task(_prune_loop(pool, args.prune_batch, args.prune_interval, stop, prune_times))
            if pruning
            else None
        )
        seconds = await _run_through(queue, owners, args.jobs, args.batch)
        stop.set()
        pruned = await pruner if pruner else 0
        rates[pruning].append(args.jobs / seconds)
        print(
            f"round {round_ + 1}: {'with' if pruning else 'without'} pruning: {args.jobs / seconds:8.0f} jobs/s"
            + (f", {pruned} old jobs pruned alongside" if pruning else "")
        )
    async with pool.connection() as conn:
        upd, hot = await _hot(conn)
    base = statistics.median(rates[False])
    with_prune = statistics.median(rates[True])
    print(f"median without pruning: {base:.0f} jobs/s; with: {with_prune:.0f} jobs/s; ratio {with_prune / base:.2f}")
    if prune_times:
        median_ms = statistics.median(prune_times) * 1000
        print(f"prune batch (up to {args.prune_batch}): median {median_ms:.1f} ms over {len(prune_times)} batches")
    print(f"HOT updates on backtest_jobs during the rounds: {(hot - hot_before) / max(1, upd - upd_before):.1%}")
    await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", required=True, help="PostgreSQL server (a scratch database is created)")
    parser.add_argument("--old", type=int, default=20_000, help="jobs finished 40 days ago")
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--jobs", type=int, default=2_000, help="fresh jobs per round")
    parser.add_argument("--batch", type=int, default=10, help="claim/complete batch")
    parser.add_argument("--prune-batch", type=int, default=1000)
    parser.add_argument("--prune-interval", type=float, default=0.1, help="seconds between batches (the reaper's is 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind, alternating")
    args = parser.parse_args(argv)
    admin = psycopg_url(args.database_url)
    template = create_migrated_template(admin)
    try:
        with fresh_database(admin, template) as url:
            asyncio.run(_bench(url, args))
    finally:
        drop_database(admin, template)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
