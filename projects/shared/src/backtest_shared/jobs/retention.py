"""Retention: final jobs (with their results) and emptied bundles older than a set age go.

Each call deletes one bounded batch (``PRUNE_FINISHED_JOBS``, then
``PRUNE_EMPTY_BUNDLES``), one short statement each, so that pruning a long
history never holds many row locks, writes a burst of WAL, or delays the
claims and completions running at the same time. Callers repeat it (the
reaper once per pass) until a batch comes back short. Datasets are never
pruned: jobs refer to them, and a user deletes their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg

from backtest_shared.jobs import queue_sql

#: The defaults the worker and the command line share (docs/compute.md, "Retention").
DEFAULT_KEEP_DAYS = 30.0
DEFAULT_BATCH = 1000


@dataclass(frozen=True)
class Pruned:
    """What one batch deleted."""

    jobs: int
    bundles: int

    def short_of(self, batch: int) -> bool:
        """True when the batch found less than it may delete: nothing is left to prune now."""
        return self.jobs < batch and self.bundles < batch


def _params(keep_seconds: float, batch: int) -> dict[str, Any]:
    if keep_seconds <= 0:
        raise ValueError("keep_seconds must be positive (0 days means keep forever: do not prune)")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    return {"keep_seconds": keep_seconds, "batch": batch}


async def prune_batch(conn: psycopg.AsyncConnection[Any], keep_seconds: float, batch: int) -> Pruned:
    """Delete up to ``batch`` final jobs finished over ``keep_seconds`` ago, then empty old bundles.

    ``conn`` must be in autocommit mode: each statement is its own transaction,
    so its locks last one batch.
    """
    params = _params(keep_seconds, batch)
    jobs = await conn.execute(queue_sql.PRUNE_FINISHED_JOBS, params)
    bundles = await conn.execute(queue_sql.PRUNE_EMPTY_BUNDLES, params)
    return Pruned(jobs=jobs.rowcount, bundles=bundles.rowcount)


def prune_batch_sync(conn: psycopg.Connection[Any], keep_seconds: float, batch: int) -> Pruned:
    """``prune_batch`` for a blocking connection (the operators' command line)."""
    params = _params(keep_seconds, batch)
    jobs = conn.execute(queue_sql.PRUNE_FINISHED_JOBS, params)
    bundles = conn.execute(queue_sql.PRUNE_EMPTY_BUNDLES, params)
    return Pruned(jobs=jobs.rowcount, bundles=bundles.rowcount)
