"""Operational reads: queue statistics, schema revision, recent job run times."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_api.ops.schemas import QueueDepth
from backtest_api.ops.schemas import QueueStats
from backtest_shared.jobs import queue_sql

SCHEMA_REVISION = "SELECT version_num FROM alembic_version"

async def queue_stats(pool: AsyncConnectionPool[Any]) -> QueueStats:
    """Pending and running jobs, queue lag and recent finishes: reads the queue table and
    the finish log, so its cost follows the queue's size, not the history's."""
    async with pool.connection() as conn:
        cur = await conn.execute(queue_sql.QUEUE_DEPTH)
        depth_rows = await cur.fetchall()
        cur = await conn.execute(queue_sql.QUEUE_STATS)
        stats = await cur.fetchone()
    assert stats is not None
    depth = sorted(
        (QueueDepth(status=row[0], priority=row[1], jobs=row[2]) for row in depth_rows),
        key=lambda d: (d.status, -d.priority),
    )
    by_status: dict[str, int] = {}
    for d in depth:
        by_status[d.status] = by_status.get(d.status, 0) + d.jobs
    oldest = float(stats[0]) if stats[0] is not None else None
    finished = {"succeeded": int(stats[1]), "failed": int(stats[2]), "cancelled": int(stats[3])}
    total = sum(finished.values())
    return QueueStats(
        by_status=by_status,
        depth=depth,
        oldest_pending_seconds=oldest,
        finished_last_minute=total,
        finished_last_minute_by_status=finished,
        throughput_per_second=total / 60.0,
    )


async def schema_revision(pool: AsyncConnectionPool[Any]) -> str | None:
    async with pool.connection(timeout=2.0) as conn:
        cur = await conn.execute(SCHEMA_REVISION)
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def recent_durations(pool: AsyncConnectionPool[Any]) -> list[float] | None:
    """p50, p90, p99 run time (seconds) of jobs that succeeded in the last five minutes."""
    async with pool.connection() as conn:
        cur = await conn.execute(queue_sql.RECENT_RUN_SECONDS)
        row = await cur.fetchone()
    return None if row is None or row[0] is None else [float(v) for v in row[0]]
