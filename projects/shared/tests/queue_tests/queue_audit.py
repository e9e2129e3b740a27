"""The queue's structural invariants, read from the database in one pass.

Used after every step of the model-based test and at the end of the soak: none
of these may ever be violated, whatever interleaving of statements led here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs.lifecycle import JobStatus

#: Every job with what the invariants need; one row per job.
JOBS = """
SELECT j.id, j.owner_id, j.status, j.attempts, j.max_attempts, j.cancel_requested, j.lease_token,
       j.worker_id, j.fair_key, j.priority, j.bundle_id,
       EXISTS (SELECT 1 FROM job_results r WHERE r.job_id = j.id) AS has_result
  FROM backtest_jobs j
"""

#: Queue rows that do not belong to a pending or running job of the same owner and key.
ORPHAN_QUEUE_ROWS = """
SELECT q.job_id, q.claimed
  FROM job_queue q
  LEFT JOIN backtest_jobs j ON j.id = q.job_id AND j.owner_id = q.owner_id AND j.fair_key = q.fair_key
 WHERE j.id IS NULL OR j.status NOT IN ('pending', 'running') OR q.claimed <> (j.status = 'running')
    OR q.priority <> j.priority
"""

#: Queued jobs without exactly one queue row.
UNQUEUED_JOBS = """
SELECT j.id, j.status, (SELECT count(*) FROM job_queue q WHERE q.job_id = j.id) AS rows
  FROM backtest_jobs j
 WHERE j.status IN ('pending', 'running')
   AND (SELECT count(*) FROM job_queue q WHERE q.job_id = j.id) <> 1
"""

#: Owners holding a key twice across their pending and running rows, or a key at
#: or above their counter (``users.fair_tail`` bounds every key they hold).
KEY_CLASHES = """
SELECT q.owner_id, q.fair_key, count(*) AS rows, max(u.fair_tail) AS tail
  FROM job_queue q JOIN users u ON u.id = q.owner_id
 GROUP BY q.owner_id, q.fair_key
HAVING count(*) > 1 OR q.fair_key >= max(u.fair_tail)
"""

#: Results of jobs that did not succeed (a result without its job is deleted with it).
STRAY_RESULTS = """
SELECT r.job_id FROM job_results r
  LEFT JOIN backtest_jobs j ON j.id = r.job_id
 WHERE j.id IS NULL OR j.status <> 'succeeded'
"""


@dataclass(frozen=True)
class StoredJob:
    """One job as the database holds it."""

    id: uuid.UUID
    owner_id: uuid.UUID
    status: JobStatus
    attempts: int
    max_attempts: int
    cancel_requested: bool
    lease_token: int | None
    worker_id: uuid.UUID | None
    fair_key: int
    priority: int
    bundle_id: uuid.UUID | None
    has_result: bool


async def _rows(pool: AsyncConnectionPool[Any], sql: str) -> list[tuple[Any, ...]]:
    async with pool.connection() as conn:
        cur = await conn.execute(sql)
        rows: list[tuple[Any, ...]] = await cur.fetchall()
        return rows


async def stored_jobs(pool: AsyncConnectionPool[Any]) -> dict[uuid.UUID, StoredJob]:
    """Every job in the database, by id."""
    jobs = [
        StoredJob(
            id=row[0],
            owner_id=row[1],
            status=JobStatus(row[2]),
            attempts=row[3],
            max_attempts=row[4],
            cancel_requested=row[5],
            lease_token=row[6],
            worker_id=row[7],
            fair_key=row[8],
            priority=row[9],
            bundle_id=row[10],
            has_result=row[11],
        )
        for row in await _rows(pool, JOBS)
    ]
    return {job.id: job for job in jobs}


async def invariant_violations(pool: AsyncConnectionPool[Any]) -> list[str]:
    """Every broken structural invariant of the queue, described; empty when all hold."""
    problems: list[str] = []
    for job in (await stored_jobs(pool)).values():
        if job.attempts > job.max_attempts:
            problems.append(f"job {job.id} made {job.attempts} of {job.max_attempts} attempts")
        if job.has_result != (job.status is JobStatus.SUCCEEDED):
            problems.append(f"job {job.id} is {job.status} and has_result={job.has_result}")
    checks = {
        "queue row not matching a queued job": ORPHAN_QUEUE_ROWS,
        "queued job without exactly one queue row": UNQUEUED_JOBS,
        "owner key held twice or beyond the owner's counter": KEY_CLASHES,
        "result of a job that did not succeed": STRAY_RESULTS,
    }
    for what, sql in checks.items():
        problems.extend(f"{what}: {row}" for row in await _rows(pool, sql))
    return problems
