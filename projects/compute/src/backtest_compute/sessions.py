"""Dedicated connections, outside the pool, for sessions that must stay put (LISTEN, the reaper's lock)."""

from __future__ import annotations

from typing import Any

import psycopg

from backtest_shared.db.urls import psycopg_url


async def open_session(database_url: str, application_name: str) -> psycopg.AsyncConnection[tuple[Any, ...]]:
    """An autocommit connection with TCP keepalives, so a silently dead network path
    fails within ~25 s instead of blocking forever (keepalives are ignored on Unix sockets)."""
    return await psycopg.AsyncConnection.connect(
        psycopg_url(database_url),
        autocommit=True,
        application_name=application_name,
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
        connect_timeout=10,
    )
