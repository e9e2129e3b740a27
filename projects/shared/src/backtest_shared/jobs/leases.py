"""The workers' side of ``JobQueue``: claim jobs, hold their leases, finish or hand them back.

A worker's writes to the jobs it claimed are fenced by their leases (job id
and token): once a lease expired or was reaped, its holder changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import HeartbeatReply
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.notifier import finished_keys
from backtest_shared.jobs.queue_core import QueueCore
from backtest_shared.jobs.queue_core import json_text
from backtest_shared.results import EncodedResult
from backtest_shared.results import ResultColumns
from backtest_shared.results import encode_columns


def _claimed_job(row: Sequence[Any]) -> ClaimedJob:
    return ClaimedJob(
        id=row[0],
        lease_token=row[1],
        attempt=row[2],
        max_attempts=row[3],
        owner_id=row[4],
        bundle_id=row[5],
        dataset_id=row[6],
        config_json=row[7],
        timeout_seconds=row[8],
        priority=row[9],
    )


def _encoded(outcomes: Sequence[JobOutcome]) -> list[tuple[Lease, EncodedResult]]:
    return [
        (
            o.lease,
            EncodedResult(
                metrics_json=json_text(o.metrics),
                detail=encode_columns(ResultColumns.from_builtins(o.equity_curve, o.trades)),
            ),
        )
        for o in outcomes
    ]


def _encoded_outcome_params(results: Sequence[tuple[Lease, EncodedResult]]) -> dict[str, Any]:
    return {
        "ids": [lease.job_id for lease, _ in results],
        "tokens": [lease.token for lease, _ in results],
        "metrics": [result.metrics_json for _, result in results],
        "details": [result.detail for _, result in results],
    }


class QueueLeases(QueueCore):
    """Claim, heartbeat, report progress, complete, fail, release and reap."""

    async def claim(self, worker_id: uuid.UUID, limit: int) -> list[ClaimedJob]:
        """Claim up to ``limit`` jobs: priority first, fair between users."""
        if limit <= 0:
            return []
        rows = await self._fetchall(
            queue_sql.CLAIM,
            {"worker_id": worker_id, "limit": limit, "lease_seconds": self.settings.lease_seconds},
        )
        return [_claimed_job(row) for row in rows]

    async def claim_siblings(self, worker_id: uuid.UUID, job: ClaimedJob, limit: int) -> list[ClaimedJob]:
        """Claim up to ``limit`` more waiting children of ``job``'s bundle on its dataset, to run with it.

        Empty for a job outside a bundle. The batch extends its owner's turn: it
        honours the owner's running cap and yields to any waiting job of higher
        priority (``queue_sql.CLAIM_SIBLINGS``).
        """
        if limit <= 0 or job.bundle_id is None:
            return []
        rows = await self._fetchall(
            queue_sql.CLAIM_SIBLINGS,
            {
                "worker_id": worker_id,
                "limit": limit,
                "lease_seconds": self.settings.lease_seconds,
                "owner_id": job.owner_id,
                "bundle_id": job.bundle_id,
                "dataset_id": job.dataset_id,
                "priority": job.priority,
            },
        )
        return [_claimed_job(row) for row in rows]

    async def complete_and_claim(
        self, outcomes: Sequence[JobOutcome], worker_id: uuid.UUID, limit: int
    ) -> tuple[dict[uuid.UUID, str], list[ClaimedJob]]:
        """Finish jobs (as ``complete``) and claim up to ``limit`` more in one round trip."""
        return await self.complete_encoded_and_claim(_encoded(outcomes), worker_id, limit)

    async def heartbeat(
        self, worker_id: uuid.UUID, leases: Iterable[Lease], *, degraded: str | None = None
    ) -> HeartbeatReply:
        """Extend all leases of a worker in one statement; report lost and cancelled jobs.

        ``degraded`` (None: healthy) is recorded in the worker registry, where
        operators see it.
        """
        leases = list(leases)
        rows = await self._fetchall(
            queue_sql.HEARTBEAT,
            {
                "worker_id": worker_id,
                "degraded": degraded,
                "ids": [lease.job_id for lease in leases],
                "tokens": [lease.token for lease in leases],
                "lease_seconds": self.settings.lease_seconds,
            },
        )
        return HeartbeatReply(
            held=frozenset(row[0] for row in rows),
            cancel_requested=frozenset(row[0] for row in rows if row[1]),
        )

    async def report_progress(self, updates: Sequence[tuple[Lease, float]]) -> set[uuid.UUID]:
        """Record progress (0..1) of held jobs; returns the ids still held."""
        if not updates:
            return set()
        rows = await self._fetchall(
            queue_sql.REPORT_PROGRESS,
            {
                "ids": [lease.job_id for lease, _ in updates],
                "tokens": [lease.token for lease, _ in updates],
                "progress": [min(max(float(p), 0.0), 1.0) for _, p in updates],
            },
        )
        return {row[0] for row in rows}

    async def complete(self, outcomes: Sequence[JobOutcome]) -> dict[uuid.UUID, str]:
        """Finish jobs with their results, fenced; returns id -> final status.

        A job missing from the answer was no longer held by that lease: its
        result was discarded.
        """
        return await self.complete_encoded(_encoded(outcomes))

    async def fail(self, lease: Lease, error: str, *, retry: bool) -> str | None:
        """Record a failed attempt, fenced: retried with backoff while attempts remain
        (if ``retry``), else final. Returns the new status, or None if the lease was lost."""
        rows = await self._fetchall(
            queue_sql.FAIL,
            {"id": lease.job_id, "token": lease.token, "error": error[:4000], "retry": retry, **self._backoff()},
        )
        if not rows:
            return None
        if rows[0][1] != "pending":
            await self._notifier.notify(finished=finished_keys(rows))
        return str(rows[0][1])

    async def release(self, leases: Sequence[Lease]) -> dict[uuid.UUID, str]:
        """Hand jobs back without burning an attempt (graceful shutdown)."""
        if not leases:
            return {}
        rows = await self._fetchall(
            queue_sql.RELEASE,
            {"ids": [lease.job_id for lease in leases], "tokens": [lease.token for lease in leases]},
        )
        return await self._returned(rows)

    async def reap_expired(self, limit: int = 1000) -> dict[uuid.UUID, str]:
        """Return jobs whose lease expired to the queue (with backoff), or fail them."""
        rows = await self._fetchall(queue_sql.REAP_EXPIRED, {"limit": limit, **self._backoff()})
        return await self._returned(rows)

    async def _returned(self, rows: Sequence[tuple[Any, ...]]) -> dict[uuid.UUID, str]:
        """Announce jobs handed back (claimable again) or finished by a release or the reaper."""
        await self._notifier.notify(
            pending=any(row[1] == "pending" for row in rows),
            finished=finished_keys(row for row in rows if row[1] != "pending"),
        )
        return {row[0]: row[1] for row in rows}

    # -- compute worker: results already encoded -------------------------

    async def complete_encoded(self, results: Sequence[tuple[Lease, EncodedResult]]) -> dict[uuid.UUID, str]:
        """``complete`` for results already in their stored form (``backtest_shared.results``).

        The compute worker's backtest processes encode their results, so its I/O
        process never touches a large trade list. Same statement,
        same fencing; returns id -> final status (missing: the lease was lost).
        """
        if not results:
            return {}
        rows = await self._fetchall(queue_sql.COMPLETE, _encoded_outcome_params(results))
        await self._notifier.notify(finished=finished_keys(rows))
        return {row[0]: row[1] for row in rows}

    async def complete_encoded_and_claim(
        self, results: Sequence[tuple[Lease, EncodedResult]], worker_id: uuid.UUID, limit: int
    ) -> tuple[dict[uuid.UUID, str], list[ClaimedJob]]:
        """``complete_and_claim`` for results already in their stored form (see ``complete_encoded``)."""
        rows = await self._fetchall(
            queue_sql.COMPLETE_AND_CLAIM,
            {
                **_encoded_outcome_params(results),
                "worker_id": worker_id,
                "limit": max(limit, 0),
                "lease_seconds": self.settings.lease_seconds,
            },
        )
        finished_rows = [(row[1], row[2], row[7]) for row in rows if row[0] == "finished"]
        claimed = [_claimed_job((row[1], *row[3:])) for row in rows if row[0] == "claimed"]
        await self._notifier.notify(finished=finished_keys(finished_rows))
        return {row[0]: row[1] for row in finished_rows}, claimed
