"""Backtest reads: one job as its caller may see it, its stored result, listings (filters, keyset
pagination); and the one write of the API to a result: a summary replaced by the full detail."""

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


#: A job's stored result by its primary key: metrics, the curve and the trades as JSON
#: (rows older than the compact form) and the compact ``detail`` (complete, or a summary).
GET_RESULT = """
SELECT metrics, equity_curve, trades, detail FROM job_results
 WHERE config_hash = %(config_hash)s AND job_id = %(id)s
"""

#: Replace a summary by the full detail regenerated from it. Only the summary that was
#: read (``detail = %(summary)s``) is replaced, so the write is idempotent: of requests that
#: regenerated the same job at once, the first writes and the others change nothing (they
#: computed the same bytes). Nothing is written when the regenerated metrics are not the
#: stored ones (``jsonb`` equality: numbers compare by value). Answers (same metrics,
#: replaced); no row when the result is gone (its job was pruned meanwhile).
REPLACE_SUMMARY = """
WITH replaced AS (
    UPDATE job_results SET detail = %(detail)s
     WHERE config_hash = %(config_hash)s AND job_id = %(id)s
       AND detail = %(summary)s AND metrics = %(metrics)s::jsonb
    RETURNING 1
)
SELECT metrics = %(metrics)s::jsonb, EXISTS (SELECT 1 FROM replaced)
  FROM job_results
 WHERE config_hash = %(config_hash)s AND job_id = %(id)s
"""


@dataclass(frozen=True)
class ResultRow:
    """A ``job_results`` row as stored: ``detail`` is None for rows in the JSON form."""

    metrics: dict[str, Any]
    equity_curve: list[Any] | None
    trades: list[Any] | None
    detail: bytes | None


async def stored_result(pool: AsyncConnectionPool[Any], job_id: uuid.UUID, config_hash: str) -> ResultRow | None:
    """The stored result of the job (``config_hash`` is the job's), or None."""
    async with pool.connection() as conn:
        cur = await conn.execute(GET_RESULT, {"id": job_id, "config_hash": config_hash})
        row = await cur.fetchone()
    if row is None:
        return None
    return ResultRow(
        metrics=row[0], equity_curve=row[1], trades=row[2], detail=None if row[3] is None else bytes(row[3])
    )


async def replace_summary(
    pool: AsyncConnectionPool[Any],
    job_id: uuid.UUID,
    config_hash: str,
    *,
    summary: bytes,
    detail: bytes,
    metrics_json: str,
) -> tuple[bool, bool] | None:
    """(the stored metrics equal ``metrics_json``, this call replaced ``summary`` by ``detail``),
    or None if the result no longer exists (see ``REPLACE_SUMMARY``)."""
    params = {"id": job_id, "config_hash": config_hash, "summary": summary, "detail": detail, "metrics": metrics_json}
    async with pool.connection() as conn:
        cur = await conn.execute(REPLACE_SUMMARY, params)
        row = await cur.fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]))


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
