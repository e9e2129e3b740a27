"""Small builders for test data: users, datasets, bundles, valid jobs and their outcomes."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from backtest_shared.accounts.store import create_user
from backtest_shared.datasets.store import DatasetInfo
from backtest_shared.datasets.store import insert_dataset
from backtest_shared.engine import STRATEGY_A_EXAMPLE
from backtest_shared.engine import synthetic_ohlcv
from backtest_shared.jobs.config import BacktestConfig
from backtest_shared.jobs.config import config_content_hash
from backtest_shared.jobs.config import decode_backtest_config
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob


async def seed_user(pool: AsyncConnectionPool[Any], name: str | None = None, **limits: Any) -> uuid.UUID:
    return await create_user(pool, name or f"user-{uuid.uuid4().hex[:8]}", **limits)


async def seed_dataset(
    pool: AsyncConnectionPool[Any], owner_id: uuid.UUID, n_bars: int = 500, seed: int = 1
) -> DatasetInfo:
    return await insert_dataset(pool, owner_id, f"synthetic-{n_bars}-{seed}", synthetic_ohlcv(n_bars, seed=seed))


async def seed_bundle(pool: AsyncConnectionPool[Any], owner_id: uuid.UUID, total_jobs: int) -> uuid.UUID:
    """An empty bundle row for jobs to be enqueued into."""
    bundle_id = uuid.uuid4()
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO bundles (id, owner_id, total_jobs, request) VALUES (%s, %s, %s, '{}')",
            (bundle_id, owner_id, total_jobs),
        )
    return bundle_id


async def seed_finished_history(
    pool: AsyncConnectionPool[Any], owner_id: uuid.UUID, dataset_id: uuid.UUID, jobs: int
) -> None:
    """``jobs`` succeeded jobs inserted directly, as after months of use, then ANALYZE."""
    async with pool.connection() as conn:
        await conn.execute(
            """
            INSERT INTO backtest_jobs (id, owner_id, dataset_id, fair_key, config, config_hash, status,
                                       finished_at)
            SELECT gen_random_uuid(), %(owner)s, %(dataset)s, g, '{}'::json, 'h', 'succeeded', now()
              FROM generate_series(1, %(jobs)s) AS g
            """,
            {"owner": owner_id, "dataset": dataset_id, "jobs": jobs},
        )
        await conn.execute("ANALYZE backtest_jobs")


def job_for(dataset: DatasetInfo, strategy: dict[str, Any] | None = None) -> QueuedJob:
    config: BacktestConfig = decode_backtest_config(
        {"dataset_id": str(dataset.id), "strategy": strategy or STRATEGY_A_EXAMPLE}
    )
    return QueuedJob(config=config, config_hash=config_content_hash(config.strategy, dataset.content_hash))


def outcome_for(
    job: ClaimedJob,
    metrics: dict[str, Any] | None = None,
    *,
    equity_curve: list[Any] | None = None,
    trades: list[Any] | None = None,
) -> JobOutcome:
    """A successful result for a claimed job, under the lease it was claimed with (small unless given)."""
    return JobOutcome(
        lease=Lease(job.id, job.lease_token),
        metrics=metrics or {"sharpe": 1.0},
        equity_curve=[[0, 1.0]] if equity_curve is None else equity_curve,
        trades=[] if trades is None else trades,
    )


QUEUE_TABLE_MISMATCHES = """
SELECT coalesce(j.id, q.job_id), j.status, q.claimed
  FROM (SELECT * FROM backtest_jobs WHERE status IN ('pending', 'running')) j
  FULL JOIN job_queue q ON q.job_id = j.id AND q.owner_id = j.owner_id AND q.fair_key = j.fair_key
 WHERE j.id IS NULL OR q.job_id IS NULL OR q.claimed <> (j.status = 'running')
"""


async def queue_table_mismatches(pool: AsyncConnectionPool[Any]) -> list[tuple[Any, ...]]:
    """Jobs on which ``job_queue`` disagrees with ``backtest_jobs.status`` (none, always)."""
    async with pool.connection() as conn:
        cur = await conn.execute(QUEUE_TABLE_MISMATCHES)
        rows: list[tuple[Any, ...]] = await cur.fetchall()
        return rows


async def table_rows(pool: AsyncConnectionPool[Any], table: str) -> int:
    """How many rows ``table`` holds."""
    async with pool.connection() as conn:
        cur = await conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])
