"""Bundle reads: the bundle row, counts per status and ranked results."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_api.bundles.schemas import BundleSummary
from backtest_api.bundles.schemas import RankBy
from backtest_shared.engine.metrics import LOWER_IS_BETTER

#: A bundle its caller may see. The owner is part of the statement: another user's
#: bundle costs the same lookup and returns the same nothing as a bundle that does not exist.
GET_BUNDLE = """
SELECT id, owner_id, name, rank_by, total_jobs, request, created_at FROM bundles
 WHERE id = %(id)s AND (%(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid)
"""

LIST_BUNDLES = """
SELECT id, name, total_jobs, rank_by, created_at FROM bundles
 WHERE %(owner_id)s::uuid IS NULL OR owner_id = %(owner_id)s::uuid
 ORDER BY created_at DESC, id DESC
 LIMIT %(limit)s
"""

COUNTS = """
SELECT status, count(*)::int, coalesce(sum(progress), 0)::float8
  FROM backtest_jobs WHERE bundle_id = %(id)s GROUP BY status
"""

_RANKED = """
SELECT j.id, j.config->'strategy', r.metrics
  FROM backtest_jobs j
  JOIN job_results r ON r.config_hash = j.config_hash AND r.job_id = j.id
 WHERE j.bundle_id = %(id)s AND j.status = 'succeeded'
 ORDER BY CASE WHEN jsonb_typeof(r.metrics->%(metric)s) = 'number'
               THEN (r.metrics->>%(metric)s)::float8 END {direction} NULLS LAST, j.fair_key, j.id
 LIMIT %(top)s
"""
RANKED_ASC = _RANKED.format(direction="ASC")
RANKED_DESC = _RANKED.format(direction="DESC")


@dataclass(frozen=True)
class BundleRow:
    id: uuid.UUID
    owner_id: uuid.UUID
    name: str | None
    rank_by: str
    total_jobs: int
    request: dict[str, Any]
    created_at: dt.datetime


async def get_bundle(
    pool: AsyncConnectionPool[Any], bundle_id: uuid.UUID, owner_id: uuid.UUID | None
) -> BundleRow | None:
    """The bundle if ``owner_id`` owns it (any owner's when ``owner_id`` is None)."""
    async with pool.connection() as conn:
        cur = await conn.execute(GET_BUNDLE, {"id": bundle_id, "owner_id": owner_id})
        row = await cur.fetchone()
    return None if row is None else BundleRow(*row)


async def list_bundles(pool: AsyncConnectionPool[Any], owner_id: uuid.UUID | None, limit: int) -> list[BundleSummary]:
    async with pool.connection() as conn:
        cur = await conn.execute(LIST_BUNDLES, {"owner_id": owner_id, "limit": limit})
        rows = await cur.fetchall()
    return [BundleSummary(id=r[0], name=r[1], total_jobs=r[2], rank_by=RankBy(r[3]), created_at=r[4]) for r in rows]


async def counts(pool: AsyncConnectionPool[Any], bundle_id: uuid.UUID) -> dict[str, tuple[int, float]]:
    """status -> (jobs, sum of their progress)."""
    async with pool.connection() as conn:
        cur = await conn.execute(COUNTS, {"id": bundle_id})
        rows = await cur.fetchall()
    return {row[0]: (row[1], row[2]) for row in rows}


async def ranked(
    pool: AsyncConnectionPool[Any], bundle_id: uuid.UUID, metric: str, top: int
) -> list[tuple[uuid.UUID, dict[str, Any], dict[str, Any]]]:
    """(job id, strategy, metrics) of succeeded jobs, best first; null metrics last."""
    sql = RANKED_ASC if metric in LOWER_IS_BETTER else RANKED_DESC
    async with pool.connection() as conn:
        cur = await conn.execute(sql, {"id": bundle_id, "metric": metric, "top": top})
        rows = await cur.fetchall()
    return [(row[0], row[1], row[2]) for row in rows]
