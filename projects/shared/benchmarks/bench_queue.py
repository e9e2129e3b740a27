"""Benchmark of the job queue: claim-and-complete throughput, pickup latency, bulk enqueue.

Run: ``./pants run projects/shared/benchmarks/bench_queue.py`` (embedded
PostgreSQL) or with ``-- --database-url postgresql://postgres@127.0.0.1:5432/postgres``.

Throughput: a queue pre-filled with no-op jobs (default 50,000, from 100 users)
is drained by 1 or 2 processes claiming batches of 1, 10 or 100 jobs and
completing each batch in one fenced statement; fairness, leases and fencing are
all on. Mode "combined" completes a batch and claims the next in one statement
(``complete_and_claim``, what a busy worker does); "separate" uses two. Each
case runs 3 times on a fresh database; jobs/s is reported as min/median/max.
"db ms/job" is the time spent waiting on the claim and complete statements
(client-observed round trips on loopback) divided by jobs.

Reference: mode "minimal" drains the same number of rows through a bare SKIP
LOCKED loop (one table, a partial index on pending rows, claim = UPDATE ...
WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED), complete = UPDATE by id; no
fairness, leases, fencing, results or notifications), in the same harness. The
machines are shared and their speed varies from hour to hour, so the queue's
figures are best read against this reference measured in the same run.

Latency: with the queue idle, a claimer waits on LISTEN; a producer enqueues one
job at a time; pickup = claim returned minus enqueue started (p50/p99).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import uvloop

from backtest_shared.accounts.store import create_user
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.db.pool import open_pool
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_testing.postgres import create_migrated_template
from backtest_testing.postgres import drop_database
from backtest_testing.postgres import fresh_database
from backtest_testing.postgres import postgres_server_url


async def _seed(url: str, total_jobs: int, users: int) -> None:
    pool = await open_pool(url, max_size=2)
    queue = JobQueue(pool)
    data = synthetic_ohlcv(200, seed=3)
    per_user = total_jobs // users
    for index in range(users):
        user = await create_user(pool, f"bench-{index}")
        dataset = await insert_dataset(pool, user, "bench", data)
        config = decode_backtest_config({"dataset_id": str(dataset.id), "strategy": STRATEGY_A_EXAMPLE})
        job = QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash))
        await queue.enqueue(user, [job] * (per_user + (1 if index < total_jobs % users else 0)))
    async with pool.connection() as conn:
        await conn.execute("VACUUM ANALYZE backtest_jobs, job_queue")
    await pool.close()


async def _drain(
    url: str, batch: int, start_at: float, separate_calls: bool, synchronous_commit: bool = True
) -> tuple[int, float, float, float]:
    """Claim and complete until empty; returns (jobs, first claim, last completion, db seconds)."""
    # Generic plans, finished notifications batched over 10 ms and a pool of two
    # connections, as the compute worker has them (its pool never has fewer than
    # two). With one, the notifier's NOTIFY would queue for the claim loop's
    # connection and the benchmark would time that wait, not the queue.
    pool = await open_pool(url, min_size=2, max_size=2, synchronous_commit=synchronous_commit, generic_plans=True)
    queue = JobQueue(pool, QueueSettings(notify_batch_delay_seconds=0.01))
    worker = uuid.uuid4()
    done = 0
    db_seconds = 0.0
    while time.time() < start_at:
        await asyncio.sleep(0.001)
    first = time.perf_counter()
    t0 = time.perf_counter()
    jobs = await queue.claim(worker, batch)
    db_seconds += time.perf_counter() - t0
    while jobs:
        outcomes = [JobOutcome(lease=Lease(j.id, j.lease_token), metrics={}, equity_curve=[], trades=[]) for j in jobs]
        t0 = time.perf_counter()
        if separate_calls:
            finished = await queue.complete(outcomes)
            jobs = await queue.claim(worker, batch)
        else:
            finished, jobs = await queue.complete_and_claim(outcomes, worker, batch)
        db_seconds += time.perf_counter() - t0
        done += len(finished)
    last = time.perf_counter()
    await queue.flush_notifications()
    await pool.close()
    return done, first, last, db_seconds


MINIMAL_SCHEMA = """
CREATE TABLE minimal_jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'pending', payload jsonb NOT NULL);
CREATE INDEX minimal_jobs_pending_idx ON minimal_jobs (id) WHERE status = 'pending';
"""
MINIMAL_CLAIM = """
UPDATE minimal_jobs SET status = 'running'
 WHERE id IN (SELECT id FROM minimal_jobs WHERE status = 'pending' ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
RETURNING id, payload
"""
MINIMAL_COMPLETE = "UPDATE minimal_jobs SET status = 'done' WHERE id = ANY(%(ids)s)"


async def _seed_minimal(url: str, total_jobs: int) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(MINIMAL_SCHEMA)
        payload = '{"strategy": {"kind": "sma_cross", "fast": 10, "slow": 50}}'
        await conn.execute(
            "INSERT INTO minimal_jobs (payload) SELECT %s::jsonb FROM generate_series(1, %s)", (payload, total_jobs)
        )
        await conn.execute("VACUUM ANALYZE minimal_jobs")


async def _drain_minimal(url: str, batch: int, start_at: float) -> tuple[int, float, float, float]:
    """The reference loop: claim a batch, mark it done, until empty."""
    pool = await open_pool(url, min_size=1, max_size=1)
    done = 0
    db_seconds = 0.0
    while time.time() < start_at:
        await asyncio.sleep(0.001)
    first = time.perf_counter()
    async with pool.connection() as conn:
        while True:
            t0 = time.perf_counter()
            rows = await (await conn.execute(MINIMAL_CLAIM, {"limit": batch})).fetchall()
            if not rows:
                db_seconds += time.perf_counter() - t0
                break
            await conn.execute(MINIMAL_COMPLETE, {"ids": [row[0] for row in rows]})
            db_seconds += time.perf_counter() - t0
            done += len(rows)
    last = time.perf_counter()
    await pool.close()
    return done, first, last, db_seconds


def _drain_process(
    url: str, batch: int, start_at: float, separate_calls: bool, synchronous_commit: bool, minimal: bool
) -> tuple[int, float, float, float]:
    if minimal:
        return uvloop.run(_drain_minimal(url, batch, start_at))
    return uvloop.run(_drain(url, batch, start_at, separate_calls, synchronous_commit))  # the worker's loop


def run_throughput(
    admin_url: str,
    template: str,
    jobs: int,
    batch: int,
    processes: int,
    separate_calls: bool,
    synchronous_commit: bool = True,
    minimal: bool = False,
) -> tuple[float, float]:
    with fresh_database(admin_url, template) as url:
        asyncio.run(_seed_minimal(url, jobs) if minimal else _seed(url, jobs, users=100))
        start_at = time.time() + 1.0
        with multiprocessing.get_context("spawn").Pool(processes) as pool:
            results = pool.starmap(
                _drain_process, [(url, batch, start_at, separate_calls, synchronous_commit, minimal)] * processes
            )
    total = sum(r[0] for r in results)
    assert total == jobs, f"drained {total} of {jobs}"
    elapsed = max(r[2] for r in results) - min(r[1] for r in results)
    db_ms_per_job = 1000 * sum(r[3] for r in results) / total
    return total / elapsed, db_ms_per_job


async def _latency(url: str, samples: int) -> list[float]:
    pool = await open_pool(url, max_size=2)
    queue = JobQueue(pool)
    user = await create_user(pool, "latency")
    dataset = await insert_dataset(pool, user, "bench", synthetic_ohlcv(200, seed=3))
    config = decode_backtest_config({"dataset_id": str(dataset.id), "strategy": STRATEGY_A_EXAMPLE})
    job = QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash))
    listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await listener.execute(f"LISTEN {queue_sql.PENDING_CHANNEL}")
    worker = uuid.uuid4()
    pickups: list[float] = []
    notifies = listener.notifies()

    async def claimer() -> None:
        async for _ in notifies:
            jobs = await queue.claim(worker, 10)
            now = time.perf_counter()
            for claimed in jobs:
                pickups.append(now - started[claimed.id])
                await queue.complete(
                    [JobOutcome(lease=Lease(claimed.id, claimed.lease_token), metrics={}, equity_curve=[], trades=[])]
                )
            if len(pickups) >= samples:
                return

    started: dict[uuid.UUID, float] = {}
    task = asyncio.create_task(claimer())
    for _ in range(samples):
        job_id = uuid.uuid4()
        started[job_id] = time.perf_counter()
        await queue.enqueue(user, [job], job_ids=[job_id])
        await asyncio.sleep(0.01)
    async with asyncio.timeout(30):
        await task
    await listener.close()
    await pool.close()
    return pickups


async def _bulk_enqueue(url: str, jobs: int) -> float:
    pool = await open_pool(url, max_size=2)
    queue = JobQueue(pool)
    user = await create_user(pool, "bulk")
    dataset = await insert_dataset(pool, user, "bench", synthetic_ohlcv(200, seed=3))
    config = decode_backtest_config({"dataset_id": str(dataset.id), "strategy": STRATEGY_A_EXAMPLE})
    job = QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash))
    await queue.enqueue(user, [job] * 100)  # warm up the connection and statement
    t0 = time.perf_counter()
    await queue.enqueue(user, [job] * jobs)
    elapsed = time.perf_counter() - t0
    await pool.close()
    return elapsed


@contextmanager
def _server(database_url: str | None) -> Iterator[tuple[str, str]]:
    if database_url:
        from backtest_shared.db.urls import psycopg_url

        admin = psycopg_url(database_url)
        template = create_migrated_template(admin)
        try:
            yield admin, template
        finally:
            drop_database(admin, template)
        return
    with postgres_server_url() as admin:
        template = create_migrated_template(admin)
        yield admin, template


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", help="server to use (default: an embedded PostgreSQL)")
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batches", default="1,10,100")
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument(
        "--modes",
        default="minimal,combined,separate",
        help=(
            "combined: complete_and_claim (one round trip per batch); separate: complete, then claim; "
            "minimal: the bare SKIP LOCKED reference loop"
        ),
    )
    parser.add_argument(
        "--synchronous-commit",
        choices=["on", "off"],
        default="on",
        help="the claimers' synchronous_commit (the worker's --synchronous-commit)",
    )
    args = parser.parse_args(argv)

    with _server(args.database_url) as (admin, template):
        with psycopg.connect(admin) as conn:
            version = conn.execute("SHOW server_version").fetchone()
        print(
            f"PostgreSQL {version[0] if version else '?'}; {args.jobs} no-op jobs per run; {args.runs} runs; "
            f"claimers' synchronous_commit {args.synchronous_commit}"
        )
        header = f"{'mode':>9} {'batch':>5} {'procs':>5} {'min jobs/s':>11} {'median':>9} {'max':>9} {'db ms/job':>10}"
        print(header)
        for mode in args.modes.split(","):
            for processes in (int(p) for p in args.processes.split(",")):
                for batch in (int(b) for b in args.batches.split(",")):
                    rates, db_ms = [], []
                    for _ in range(args.runs):
                        rate, per_job = run_throughput(
                            admin,
                            template,
                            args.jobs,
                            batch,
                            processes,
                            separate_calls=mode == "separate",
                            synchronous_commit=args.synchronous_commit == "on",
                            minimal=mode == "minimal",
                        )
                        rates.append(rate)
                        db_ms.append(per_job)
                    print(
                        f"{mode:>9} {batch:>5} {processes:>5} {min(rates):>11,.0f} {statistics.median(rates):>9,.0f} "
                        f"{max(rates):>9,.0f} {statistics.median(db_ms):>10.3f}",
                        flush=True,
                    )
        with fresh_database(admin, template) as url:
            pickups = sorted(uvloop.run(_latency(url, args.latency_samples)))
        p50 = pickups[len(pickups) // 2] * 1000
        p99 = pickups[min(len(pickups) - 1, int(len(pickups) * 0.99))] * 1000
        print(f"idle pickup latency (NOTIFY): p50 {p50:.2f} ms, p99 {p99:.2f} ms over {len(pickups)} jobs")
        with fresh_database(admin, template) as url:
            bulk = asyncio.run(_bulk_enqueue(url, 10_000))
        print(f"bulk enqueue of 10,000 jobs: {bulk * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__: list[Any] = []
