"""Time passing for the queue without waiting: stored timestamps move back instead.

The queue's statements compare stored times with the database's ``now()``:
a lease is lost when ``lease_expires_at < now()``, a retry waits until
``run_after <= now()``, a worker is dead when ``heartbeat_at`` is old, finish
records age out of the log. Moving every stored timestamp back by ``s`` seconds
is, to those statements, exactly ``s`` seconds passing, so tests advance time
in one statement instead of sleeping through real leases and backoffs, and a
slow machine cannot expire a lease before the test means it to.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from typing import Any

from psycopg import sql
from psycopg_pool import AsyncConnectionPool

#: Every running lease, or those of one worker or of some jobs, already past.
EXPIRE_LEASES = """
UPDATE backtest_jobs SET lease_expires_at = now() - interval '1 second'
 WHERE status = 'running'
   AND (%(worker)s::uuid IS NULL OR worker_id = %(worker)s::uuid)
   AND (%(jobs)s::uuid[] IS NULL OR id = ANY(%(jobs)s::uuid[]))
"""
#: Every retry's backoff over: waiting jobs become claimable now.
END_BACKOFFS = """
WITH q AS (UPDATE job_queue SET run_after = now() - interval '1 second' WHERE run_after > now())
UPDATE backtest_jobs SET run_after = now() - interval '1 second' WHERE run_after > now()
"""
_TIMESTAMP_COLUMNS = """
SELECT c.table_name, array_agg(c.column_name::text ORDER BY c.ordinal_position)
  FROM information_schema.columns c
  JOIN information_schema.tables t USING (table_schema, table_name)
 WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
   AND c.data_type = 'timestamp with time zone'
 GROUP BY c.table_name
 ORDER BY c.table_name
"""


class DatabaseClock:
    """The queue's clock, as the tests see it: ``advance`` it, or jump to one event."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self.pool = pool

    async def advance(self, seconds: float) -> None:
        """``seconds`` pass for every stored time in the schema (all tables, one transaction)."""
        shift = dt.timedelta(seconds=seconds)
        async with self.pool.connection() as conn:
            cur = await conn.execute(_TIMESTAMP_COLUMNS)
            tables = await cur.fetchall()
            async with conn.transaction():
                for table, columns in tables:
                    assignments = sql.SQL(", ").join(
                        sql.SQL("{0} = {0} - %(shift)s").format(sql.Identifier(column)) for column in columns
                    )
                    statement = sql.SQL("UPDATE {} SET ").format(sql.Identifier(table)) + assignments
                    await conn.execute(statement, {"shift": shift})

    async def expire_leases(self, *, worker: uuid.UUID | None = None, jobs: Iterable[uuid.UUID] | None = None) -> int:
        """Running leases (all, or one worker's, or some jobs') run out now; returns how many."""
        async with self.pool.connection() as conn:
            cur = await conn.execute(EXPIRE_LEASES, {"worker": worker, "jobs": None if jobs is None else list(jobs)})
            return int(cur.rowcount)

    async def end_backoffs(self) -> None:
        """Every failed job's retry delay is over."""
        async with self.pool.connection() as conn:
            await conn.execute(END_BACKOFFS)
