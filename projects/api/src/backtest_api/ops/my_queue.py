"""A user's own view of the queue: their pending and running jobs, and how many jobs are ahead.

Users do not see the queue-wide statistics (they show every tenant's activity);
this is what they need of them: where their own work stands.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

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


class MyQueue(msgspec.Struct, kw_only=True):
    """Your jobs in the queue."""

    #: Your jobs waiting to run.
    pending: int
    #: Your jobs running now.
    running: int
    #: Jobs of all users that workers will claim before your next one (null: none of yours waits),
    #: counted up to ``ahead_counted_up_to``. Fair sharing and priorities can move it either way.
    jobs_ahead: int | None
    #: ``jobs_ahead`` is exact below this number and means "at least" at it.
    ahead_counted_up_to: int


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
