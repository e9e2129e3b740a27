"""Async psycopg connection pools configured the way the queue expects."""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_shared.db.urls import psycopg_url


async def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "backtest",
    application_name: str = "backtest",
) -> AsyncConnectionPool[Any]:
    """An open pool of autocommit connections: every statement is its own transaction."""
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        psycopg_url(url),
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        kwargs={"autocommit": True, "application_name": application_name},
        # A broken connection (server restart) is detected on checkout and replaced.
        check=AsyncConnectionPool.check_connection,
    )
    await pool.open(wait=True, timeout=30)
    return pool
