"""Async psycopg connection pools configured the way the queue expects."""

from __future__ import annotations

from typing import Any

import msgspec
from psycopg import AsyncConnection
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import set_json_dumps
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from backtest_shared.db.urls import psycopg_url

_encoder = msgspec.json.Encoder()


async def configure_connection(conn: AsyncConnection[Any]) -> None:
    """Use msgspec for JSON on this connection: it encodes and decodes faster than the json module."""
    set_json_loads(msgspec.json.decode, conn)
    set_json_dumps(_encoder.encode, conn)


def session_settings(*, synchronous_commit: bool = True, generic_plans: bool = False) -> list[str]:
    """The ``-c name=value`` options of ``open_pool``'s sessions (see there why)."""
    settings: list[str] = []
    if not synchronous_commit:
        settings.append("-c synchronous_commit=off")
    if generic_plans:
        settings += ["-c plan_cache_mode=force_generic_plan", "-c enable_seqscan=off"]
    return settings


async def open_pool(
    url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    name: str = "backtest",
    application_name: str = "backtest",
    check_connections: bool = False,
    synchronous_commit: bool = True,
    generic_plans: bool = False,
) -> AsyncConnectionPool[Any]:
    """An open pool of autocommit connections: every statement is its own transaction.

    ``check_connections`` tests each connection on checkout (one extra round
    trip): worth it where a failed request is costly, not on the queue's hot
    path, whose callers retry transient errors instead.

    ``synchronous_commit=False`` lets commits return before their WAL reaches
    disk. Only for workers' queue statements, where losing the last few hundred
    milliseconds in a PostgreSQL crash is harmless: a lost claim puts the job
    back, a lost completion is re-run after its lease, and fencing keeps every
    result written once. Enqueues (the API) always commit synchronously.

    ``generic_plans=True`` plans each prepared statement once per connection
    (``plan_cache_mode=force_generic_plan``). For the workers' queue statements:
    PostgreSQL otherwise re-plans the claim on every call (its generic plan's
    estimate looks worse than it runs), and planning costs as much as running a
    claim. Such a plan must suit a queue of none or of millions of jobs:
    ``job_queue`` swings between the two faster than its statistics follow, and
    a plan made while it is empty scans and sorts the whole table for every
    claim once it is full. These sessions
    therefore also set ``enable_seqscan=off``: every queue statement is an
    index probe or an index-ordered scan by design. Their generic plans are
    checked in ``test_generic_plans.py``.
    """
    conninfo = psycopg_url(url)
    kwargs: dict[str, Any] = {"autocommit": True, "application_name": application_name}
    settings = session_settings(synchronous_commit=synchronous_commit, generic_plans=generic_plans)
    if settings:
        # Added to the URL's own options (``?options=-c ...``), which must survive.
        url_options = str(conninfo_to_dict(conninfo).get("options") or "")
        kwargs["options"] = " ".join([url_options, *settings]).strip()
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
        conninfo,
        min_size=min_size,
        max_size=max_size,
        name=name,
        open=False,
        kwargs=kwargs,
        configure=configure_connection,
        # Broken connections (server restart) are discarded when returned; checking
        # them on checkout as well doubles the cost of a one-statement call.
        check=AsyncConnectionPool.check_connection if check_connections else None,
    )
    await pool.open(wait=True, timeout=30)
    return pool
