"""The producers' side of ``JobQueue``: enqueue jobs and bundles, cancel them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.models import SubmitOutcome
from backtest_shared.jobs.notifier import finished_keys
from backtest_shared.jobs.queue_core import QueueCore
from backtest_shared.jobs.queue_core import json_text

MAX_PRIORITY = 100
MAX_TIMEOUT_SECONDS = 24 * 3600
MAX_ATTEMPTS = 20


class PendingLimitExceededError(Exception):
    """The owner already has as many pending jobs as allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"pending job limit of {limit} reached")


def check_job_options(priority: int, max_attempts: int, timeout_seconds: int) -> None:
    """Refuse out-of-range options (``JobConfigError`` naming the field) before anything is written."""
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise JobConfigError("priority", f"must be between {-MAX_PRIORITY} and {MAX_PRIORITY}")
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise JobConfigError("max_attempts", f"must be between 1 and {MAX_ATTEMPTS}")
    if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise JobConfigError("timeout_seconds", f"must be between 1 and {MAX_TIMEOUT_SECONDS}")


def enqueue_each_params(submits: Sequence[SingleSubmit]) -> dict[str, Any]:
    """``queue_sql.ENQUEUE_EACH``'s parameters: one array per column, one element per submit."""
    return {
        "ids": [s.id for s in submits],
        "owner_ids": [s.owner_id for s in submits],
        "dataset_ids": [s.job.config.dataset_id for s in submits],
        "configs": [json_text(s.job.config.to_json_dict()) for s in submits],
        "config_hashes": [s.job.config_hash for s in submits],
        "priorities": [s.priority for s in submits],
        "max_attempts": [s.max_attempts for s in submits],
        "timeouts": [s.timeout_seconds for s in submits],
        "max_pendings": [s.max_pending for s in submits],
        "reuses": [s.reuse for s in submits],
    }


class QueueSubmissions(QueueCore):
    """Enqueue (reusing identical finished results), create bundles, cancel."""

    async def enqueue(
        self,
        owner_id: uuid.UUID,
        jobs: Sequence[QueuedJob],
        *,
        bundle_id: uuid.UUID | None = None,
        priority: int = 0,
        max_attempts: int = 3,
        timeout_seconds: int = 3600,
        max_pending: int | None = None,
        job_ids: Sequence[uuid.UUID] | None = None,
    ) -> list[uuid.UUID]:
        """Insert jobs in one round trip and wake the workers; returns their ids.

        Raises ``JobConfigError`` for bad options and ``PendingLimitExceededError``
        when ``max_pending`` would be exceeded; in both cases nothing is written.
        """
        ids, _ = await self.enqueue_reusing(
            owner_id,
            jobs,
            job_ids=job_ids,
            bundle_id=bundle_id,
            priority=priority,
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            max_pending=max_pending,
            reuse=False,
        )
        return ids

    async def cancel(self, job_ids: Sequence[uuid.UUID], *, owner_id: uuid.UUID | None = None) -> dict[uuid.UUID, str]:
        """Cancel pending jobs now and flag running ones; returns id -> status after."""
        rows = await self._fetchall(queue_sql.CANCEL_JOBS, {"ids": list(job_ids), "owner_id": owner_id})
        return await self._cancelled(rows)

    async def cancel_bundle(self, bundle_id: uuid.UUID, *, owner_id: uuid.UUID | None = None) -> dict[uuid.UUID, str]:
        rows = await self._fetchall(queue_sql.CANCEL_BUNDLE, {"bundle_id": bundle_id, "owner_id": owner_id})
        return await self._cancelled(rows)

    async def _cancelled(self, rows: Sequence[tuple[Any, ...]]) -> dict[uuid.UUID, str]:
        await self._notifier.notify(
            finished=finished_keys(row for row in rows if row[1] != "running"),
            cancel=[str(row[0]) for row in rows if row[1] == "running"],
        )
        return {row[0]: row[1] for row in rows}

    # -- API: reuse of identical results, bundles ------------------------

    def _reusing_params(
        self,
        owner_id: uuid.UUID,
        jobs: Sequence[QueuedJob],
        ids: Sequence[uuid.UUID],
        *,
        bundle_id: uuid.UUID | None,
        priority: int,
        max_attempts: int,
        timeout_seconds: int,
        max_pending: int | None,
        reuse: bool,
    ) -> dict[str, Any]:
        check_job_options(priority, max_attempts, timeout_seconds)
        if len(ids) != len(jobs):
            raise ValueError("job_ids must match jobs one to one")
        return {
            "owner_id": owner_id,
            "bundle_id": bundle_id,
            "priority": priority,
            "max_attempts": max_attempts,
            "timeout_seconds": timeout_seconds,
            "max_pending": max_pending,
            "reuse": reuse,
            "ids": list(ids),
            "dataset_ids": [job.config.dataset_id for job in jobs],
            "configs": [json_text(job.config.to_json_dict()) for job in jobs],
            "config_hashes": [job.config_hash for job in jobs],
        }

    @staticmethod
    def _reused(row: tuple[Any, ...], max_pending: int | None) -> dict[uuid.UUID, uuid.UUID]:
        if not row[0]:
            assert max_pending is not None
            raise PendingLimitExceededError(max_pending)
        return dict(zip(row[2], row[3], strict=True))

    async def enqueue_reusing(
        self,
        owner_id: uuid.UUID,
        jobs: Sequence[QueuedJob],
        *,
        job_ids: Sequence[uuid.UUID] | None = None,
        bundle_id: uuid.UUID | None = None,
        priority: int = 0,
        max_attempts: int = 3,
        timeout_seconds: int = 3600,
        max_pending: int | None = None,
        reuse: bool = True,
    ) -> tuple[list[uuid.UUID], dict[uuid.UUID, uuid.UUID]]:
        """Enqueue jobs in one statement, answering those with an identical finished
        result at once (when ``reuse``). Returns all ids and reused id -> source id.

        Raises ``PendingLimitExceededError`` (nothing written) when the jobs that
        need a run would exceed ``max_pending``.
        """
        ids = list(job_ids) if job_ids is not None else [uuid.uuid4() for _ in jobs]
        params = self._reusing_params(  # validates the options, even for no jobs
            owner_id,
            jobs,
            ids,
            bundle_id=bundle_id,
            priority=priority,
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            max_pending=max_pending,
            reuse=reuse,
        )
        if not jobs:
            return [], {}
        rows = await self._fetchall(queue_sql.ENQUEUE, params)
        reused = self._reused(rows[0], max_pending)
        if rows[0][1]:
            await self._notifier.notify(pending=True)
        return ids, reused

    async def enqueue_each(self, submits: Sequence[SingleSubmit]) -> list[SubmitOutcome]:
        """Enqueue single jobs of any owners in one statement, each on its own terms.

        Each is queued, answered by reuse of an identical finished result, or
        refused as over its owner's ``max_pending`` ('limited', nothing written),
        independently of the others. A database error (a dataset deleted
        meanwhile) fails the whole statement.
        """
        for submit in submits:
            check_job_options(submit.priority, submit.max_attempts, submit.timeout_seconds)
        if not submits:
            return []
        rows = await self._fetchall(queue_sql.ENQUEUE_EACH, enqueue_each_params(submits))
        outcomes = [SubmitOutcome(id=row[0], status=row[1], reused_from=row[2]) for row in rows]
        if any(o.status == "queued" for o in outcomes):
            await self._notifier.notify(pending=True)
        return outcomes

    async def create_bundle(
        self,
        owner_id: uuid.UUID,
        bundle_id: uuid.UUID,
        jobs: Sequence[QueuedJob],
        *,
        name: str | None,
        rank_by: str,
        request: dict[str, Any],
        priority: int = 0,
        max_attempts: int = 3,
        timeout_seconds: int = 3600,
        max_pending: int | None = None,
        reuse: bool = True,
    ) -> tuple[list[uuid.UUID], dict[uuid.UUID, uuid.UUID]]:
        """Create a bundle row and all its jobs in one transaction (all or nothing)."""
        ids = [uuid.uuid4() for _ in jobs]
        params = self._reusing_params(
            owner_id,
            jobs,
            ids,
            bundle_id=bundle_id,
            priority=priority,
            max_attempts=max_attempts,
            timeout_seconds=timeout_seconds,
            max_pending=max_pending,
            reuse=reuse,
        )
        bundle = {
            "id": bundle_id,
            "owner_id": owner_id,
            "name": name,
            "rank_by": rank_by,
            "total_jobs": len(jobs),
            "request": json_text(request),
        }
        async with self._pool.connection() as conn, conn.transaction():
            await conn.execute(queue_sql.INSERT_BUNDLE, bundle)
            cur = await conn.execute(queue_sql.ENQUEUE, params)
            row = await cur.fetchone()
            assert row is not None
            reused = self._reused(row, max_pending)
        if row[1]:
            await self._notifier.notify(pending=True)
        return ids, reused
