"""Operational reads: queue statistics, schema revision, recent job durations."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_api.ops.schemas import QueueDepth
from backtest_api.ops.schemas import QueueStats
from backtest_shared.jobs import queue_sql

SCHEMA_REVISION = "SELECT version_num FROM alembic_version"

RECENT_DURATIONS = """
SELECT percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY extract(epoch FROM finished_at - started_at))
  FROM backtest_jobs
 WHERE status = 'succeeded' AND reused_from IS NULL AND finished_at > now() - interval '5 minutes'
"""


async def queue_stats(pool: AsyncConnectionPool[Any]) -> QueueStats:
    async with pool.connection() as conn:
        cur = await conn.execute(queue_sql.COUNT_BY_STATUS)
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
    return QueueStats(
        by_status=by_status,
        depth=depth,
        oldest_pending_seconds=oldest,
        finished_last_minute=int(stats[1]),
        throughput_per_second=int(stats[1]) / 60.0,
    )


async def schema_revision(pool: AsyncConnectionPool[Any]) -> str | None:
    async with pool.connection(timeout=2.0) as conn:
        cur = await conn.execute(SCHEMA_REVISION)
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def recent_durations(pool: AsyncConnectionPool[Any]) -> list[float] | None:
    """p50, p90, p99 run time (seconds) of jobs finished in the last five minutes."""
    async with pool.connection() as conn:
        cur = await conn.execute(RECENT_DURATIONS)
        row = await cur.fetchone()
    return None if row is None or row[0] is None else [float(v) for v in row[0]]
