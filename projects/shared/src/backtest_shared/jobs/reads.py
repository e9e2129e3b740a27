"""``JobQueue``'s reads (job state, results, counts) and upkeep (worker registry, fair keys, finish log)."""

from __future__ import annotations

import uuid

import msgspec

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.models import JobState
from backtest_shared.jobs.models import StoredResult
from backtest_shared.jobs.models import WorkerInfo
from backtest_shared.jobs.queue_core import QueueCore
from backtest_shared.results import result_builtins


class QueueReads(QueueCore):
    """Look jobs up, keep the worker registry, restore the queue's invariants."""

    # -- worker registry -------------------------------------------------

    async def register_worker(self, worker: WorkerInfo) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(queue_sql.REGISTER_WORKER, msgspec.structs.asdict(worker))

    async def deregister_worker(self, worker_id: uuid.UUID) -> None:
        async with self._pool.connection() as conn:
            await conn.execute(queue_sql.DEREGISTER_WORKER, {"id": worker_id})

    # -- reads -----------------------------------------------------------

    async def get(self, job_id: uuid.UUID) -> JobState | None:
        async with self._pool.connection() as conn:
            cur = await conn.execute(queue_sql.GET_JOB, {"id": job_id})
            row = await cur.fetchone()
            if row is None:
                return None
            names = [column.name for column in cur.description or ()]
        return JobState(**dict(zip(names, row, strict=False)))

    async def get_result(self, job_id: uuid.UUID) -> StoredResult | None:
        rows = await self._fetchall(queue_sql.GET_RESULT, {"id": job_id})
        if not rows:
            return None
        metrics, equity_curve, trades, detail = rows[0]
        curve, trade_list = result_builtins(equity_curve, trades, detail)
        return StoredResult(metrics=metrics, equity_curve=curve, trades=trade_list)

    async def repair_fair_keys(self) -> tuple[int, int]:
        """Restore the fair-key invariant (``queue_sql.REPAIR_FAIR_KEYS``); returns
        (pending jobs given new keys, owners whose counter was raised)."""
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(queue_sql.LOCK_FOR_REPAIR)
            cur = await conn.execute(queue_sql.REPAIR_FAIR_KEYS)
            row = await cur.fetchone()
        assert row is not None
        if row[0]:
            await self._notifier.notify(pending=True)
        return int(row[0]), int(row[1])

    async def prune_finish_log(self, keep_seconds: float = 900.0) -> int:
        """Drop finish-log rows older than ``keep_seconds``; returns how many."""
        async with self._pool.connection() as conn:
            cur = await conn.execute(queue_sql.PRUNE_FINISH_LOG, {"keep_seconds": keep_seconds})
            return int(cur.rowcount)

    async def counts_by_status(self) -> dict[str, int]:
        """Every job ever, by status (scans the whole table: for tests and audits)."""
        rows = await self._fetchall(queue_sql.COUNT_BY_STATUS, {})
        counts: dict[str, int] = {}
        for status, _priority, jobs in rows:
            counts[status] = counts.get(status, 0) + jobs
        return counts
