"""Prunes the finish log that queue statistics read, in the background of each API process.

The compute workers' reaper prunes it too; doing it here as well keeps the log
short when no worker runs (an API-only deployment, or all workers down), when
cancels and reused results still append to it.
"""

from __future__ import annotations

import logging

from backtest_api.core.periodic import run_every
from backtest_shared.jobs.repository import JobQueue

logger = logging.getLogger(__name__)

#: Every API process prunes once a minute; concurrent prunes delete disjoint or no rows.
PRUNE_INTERVAL_SECONDS = 60.0


async def prune_finish_log_periodically(queue: JobQueue, interval_seconds: float = PRUNE_INTERVAL_SECONDS) -> None:
    """Run until cancelled: drop finish-log rows older than the statistics read (15 minutes)."""

    async def prune() -> None:
        pruned = await queue.prune_finish_log()
        if pruned:
            logger.debug("pruned %d finish-log rows", pruned)

    await run_every(interval_seconds, prune, "finish-log prune")
