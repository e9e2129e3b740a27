"""Operational reads: queue statistics, a user's own queue, schema revision, recent job run times."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_api.ops.schemas import MyQueue
from backtest_api.ops.schemas import QueueDepth
from backtest_api.ops.schemas import QueueStats
from backtest_shared.db.revision import CURRENT_REVISION_SQL
from backtest_shared.jobs import queue_sql

#: Jobs ahead are counted up to this many (each an index entry read); beyond, "at least".
MAX_COUNTED_AHEAD = 10_000

#: The owner's queue rows through its two per-owner indexes; the head is their next job
#: in claim order (``priority DESC, fair_key``), and the jobs ahead of it are counted in
#: two ranges of the claim index, each stopped after ``limit`` entries.
MY_QUEUE = """
WITH head AS (
    SELECT priority, fair_key FROM job_queue
     WHERE owner_id = %(owner_id)s AND NOT claimed
     ORDER BY priority DESC, fair_key
     LIMIT 1
)
SELECT (SELECT count(*) FROM job_queue WHERE owner_id = %(owner_id)s AND NOT claimed)::int AS pending,
       (SELECT count(*) FROM job_queue WHERE owner_id = %(owner_id)s AND claimed)::int AS running,
       (SELECT count(*) FROM (SELECT 1 FROM job_queue q, head
                               WHERE NOT q.claimed AND q.priority > head.priority
                               LIMIT %(limit)s) higher)::int
     + (SELECT count(*) FROM (SELECT 1 FROM job_queue q, head
                               WHERE NOT q.claimed AND q.priority = head.priority AND q.fair_key < head.fair_key
                               LIMIT %(limit)s) same)::int AS ahead,
       EXISTS (SELECT 1 FROM head) AS waiting
"""


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
        cur = await conn.execute(CURRENT_REVISION_SQL)
        row = await cur.fetchone()
    return None if row is None else str(row[0])


async def recent_durations(pool: AsyncConnectionPool[Any]) -> list[float] | None:
    """p50, p90, p99 run time (seconds) of jobs that succeeded in the last five minutes."""
    async with pool.connection() as conn:
        cur = await conn.execute(queue_sql.RECENT_RUN_SECONDS)
        row = await cur.fetchone()
    return None if row is None or row[0] is None else [float(v) for v in row[0]]


async def my_queue(pool: AsyncConnectionPool[Any], owner_id: uuid.UUID) -> MyQueue:
    async with pool.connection() as conn:
        cur = await conn.execute(MY_QUEUE, {"owner_id": owner_id, "limit": MAX_COUNTED_AHEAD})
        row = await cur.fetchone()
    assert row is not None
    pending, running, ahead, waiting = row
    return MyQueue(
        pending=pending,
        running=running,
        jobs_ahead=min(ahead, MAX_COUNTED_AHEAD) if waiting else None,
        ahead_counted_up_to=MAX_COUNTED_AHEAD,
    )
