"""Backtest reads: one job as its caller may see it, and listings (filters, keyset pagination)."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from backtest_api.backtests.schemas import BacktestSummary
from backtest_api.core.errors import InvalidRequestError
from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.models import JobState

_COLUMNS = (
    "id, status, progress, dataset_id, bundle_id, priority, error, reused_from, created_at, started_at, finished_at"
)


#: The queue's job read, restricted to what the caller may see: another user's job
#: costs the same statement and returns the same nothing as a job that does not exist.
VISIBLE_JOB = f"""
SELECT * FROM ({queue_sql.GET_JOB.strip()}) job
 WHERE %(owner_id)s::uuid IS NULL OR job.owner_id = %(owner_id)s::uuid
"""


async def visible_job(pool: AsyncConnectionPool[Any], job_id: uuid.UUID, owner_id: uuid.UUID | None) -> JobState | None:
    """The job if ``owner_id`` owns it (any owner's when ``owner_id`` is None)."""
    async with pool.connection() as conn:
        cur = await conn.execute(VISIBLE_JOB, {"id": job_id, "owner_id": owner_id})
        row = await cur.fetchone()
        names = [column.name for column in cur.description or ()]
    return None if row is None else JobState(**dict(zip(names, row, strict=True)))


@dataclass(frozen=True)
class JobFilter:
    owner_id: uuid.UUID | None
    statuses: list[str] | None = None
    bundle_id: uuid.UUID | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None


def encode_cursor(created_at: dt.datetime, job_id: uuid.UUID) -> str:
    raw = msgspec.json.encode([created_at.isoformat(), str(job_id)])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[dt.datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        decoded: tuple[dt.datetime, uuid.UUID] = msgspec.json.decode(raw, type=tuple[dt.datetime, uuid.UUID])
        created_at, job_id = decoded
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidRequestError("cursor", "not a cursor returned by this API") from None
    return created_at, job_id


def _list_sql(filters: JobFilter, descending: bool, has_cursor: bool) -> str:
    where = ["true"]
    if filters.owner_id is not None:
        where.append("owner_id = %(owner_id)s")
    if filters.statuses:
        where.append("status = ANY(%(statuses)s::text[])")
    if filters.bundle_id is not None:
        where.append("bundle_id = %(bundle_id)s")
    if filters.created_after is not None:
        where.append("created_at >= %(created_after)s")
    if filters.created_before is not None:
        where.append("created_at < %(created_before)s")
    op, order = ("<", "DESC") if descending else (">", "ASC")
    if has_cursor:
        where.append(f"(created_at, id) {op} (%(cursor_created)s, %(cursor_id)s)")
    return (
        f"SELECT {_COLUMNS} FROM backtest_jobs WHERE {' AND '.join(where)} "
        f"ORDER BY created_at {order}, id {order} LIMIT %(limit)s"
    )


async def list_jobs(
    pool: AsyncConnectionPool[Any],
    filters: JobFilter,
    *,
    descending: bool,
    cursor: str | None,
    limit: int,
) -> tuple[list[BacktestSummary], str | None]:
    params: dict[str, Any] = {
        "owner_id": filters.owner_id,
        "statuses": filters.statuses,
        "bundle_id": filters.bundle_id,
        "created_after": filters.created_after,
        "created_before": filters.created_before,
        "limit": limit + 1,
    }
    if cursor:
        params["cursor_created"], params["cursor_id"] = decode_cursor(cursor)
    sql = _list_sql(filters, descending, bool(cursor))
    async with pool.connection() as conn:
        cur = await conn.execute(sql, params)  # type: ignore[arg-type]
        rows = await cur.fetchall()
    names = _COLUMNS.split(", ")
    items = [BacktestSummary(**dict(zip(names, row, strict=True))) for row in rows[:limit]]
    next_cursor = encode_cursor(items[-1].created_at, items[-1].id) if len(rows) > limit else None
    return items, next_cursor
