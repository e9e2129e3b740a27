"""The worker registry, read."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_api.workers.schemas import Worker
from backtest_shared.jobs import queue_sql


async def list_workers(pool: AsyncConnectionPool[Any], dead_after_seconds: float) -> list[Worker]:
    async with pool.connection() as conn:
        cur = await conn.execute(queue_sql.LIST_WORKERS, {"dead_after_seconds": dead_after_seconds})
        names = [column.name for column in cur.description or ()]
        rows = await cur.fetchall()
    return [Worker(**dict(zip(names, row, strict=True))) for row in rows]
