"""Deletes idempotency records past their retention period, in the background of each API process."""

from __future__ import annotations

import logging
from typing import Any

from psycopg_pool import AsyncConnectionPool

from backtest_api.core.periodic import run_every
from backtest_api.idempotency import repository

logger = logging.getLogger(__name__)


async def purge_periodically(pool: AsyncConnectionPool[Any], ttl_seconds: float) -> None:
    """Run until cancelled: a purge every 10 minutes (a quarter of the retention period if that is shorter).

    Every API process runs one; concurrent purges delete disjoint or no rows.
    """

    async def purge() -> None:
        deleted = await repository.purge_expired(pool, ttl_seconds)
        if deleted:
            logger.info("purged %d expired idempotency records", deleted)

    await run_every(min(600.0, ttl_seconds / 4), purge, "idempotency purge")
