"""The job queue's repository: one method per state change, one statement each.

All SQL lives in ``queue_sql``; this module only binds parameters and shapes
rows. Connections come from a psycopg async pool in autocommit mode, so each
statement is its own transaction and holds no lock beyond its own duration.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.config import JobConfigError
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import HeartbeatReply
from backtest_shared.jobs.models import JobOutcome
from backtest_shared.jobs.models import JobState
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import QueuedJob
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.models import StoredResult
from backtest_shared.jobs.models import SubmitOutcome
from backtest_shared.jobs.models import WorkerInfo
from backtest_shared.jobs.notifier import JobNotifier
from backtest_shared.jobs.notifier import finished_keys
from backtest_shared.results import EncodedResult
from backtest_shared.results import ResultColumns
from backtest_shared.results import encode_columns
from backtest_shared.results import result_builtins

_json_encoder = msgspec.json.Encoder()

MAX_PRIORITY = 100
MAX_TIMEOUT_SECONDS = 24 * 3600
MAX_ATTEMPTS = 20


class PendingLimitExceededError(Exception):
    """The owner already has as many pending jobs as allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"pending job limit of {limit} reached")


@dataclass(frozen=True)
class QueueSettings:
    """Timing of leases and retries; see README, 'Configuration'."""

    lease_seconds: float = 30.0
    retry_backoff_base_seconds: float = 2.0
    retry_backoff_cap_seconds: float = 300.0
    #: How long finished and cancel notifications may wait to travel together
    #: (see ``notifier``); 0 sends each at once. A queue with a delay must call
    #: ``flush_notifications`` before its pool closes.
    notify_batch_delay_seconds: float = 0.0
    #: Minimum time between two pending notifications (the first after a quiet
    #: spell goes at once); same duty to flush.
    notify_pending_interval_seconds: float = 0.0


def _json(value: Any) -> str:
    return _json_encoder.encode(value).decode()


def check_job_options(priority: int, max_attempts: int, timeout_seconds: int) -> None:
    """Refuse out-of-range options (``JobConfigError`` naming the field) before anything is written."""
    if not -MAX_PRIORITY <= priority <= MAX_PRIORITY:
        raise JobConfigError("priority", f"must be between {-MAX_PRIORITY} and {MAX_PRIORITY}")
    if not 1 <= max_attempts <= MAX_ATTEMPTS:
        raise JobConfigError("max_attempts", f"must be between 1 and {MAX_ATTEMPTS}")
    if not 1 <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        raise JobConfigError("timeout_seconds", f"must be between 1 and {MAX_TIMEOUT_SECONDS}")


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
                metrics_json=_json(o.metrics),
                detail=encode_columns(ResultColumns.from_builtins(o.equity_curve, o.trades)),
            ),
        )
        for o in outcomes
    ]


def enqueue_each_params(submits: Sequence[SingleSubmit]) -> dict[str, Any]:
    """``queue_sql.ENQUEUE_EACH``'s parameters: one array per column, one element per submit."""
    return {
        "ids": [s.id for s in submits],
        "owner_ids": [s.owner_id for s in submits],
        "dataset_ids": [s.job.config.dataset_id for s in submits],
        "configs": [_json(s.job.config.to_json_dict()) for s in submits],
        "config_hashes": [s.job.config_hash for s in submits],
        "priorities": [s.priority for s in submits],
        "max_attempts": [s.max_attempts for s in submits],
        "timeouts": [s.timeout_seconds for s in submits],
        "max_pendings": [s.max_pending for s in submits],
        "reuses": [s.reuse for s in submits],
    }


class JobQueue:
    """Enqueue, claim, heartbeat, finish, release, cancel and reap backtest jobs."""

    def __init__(self, pool: AsyncConnectionPool[Any], settings: QueueSettings | None = None) -> None:
        self._pool = pool
        self.settings = settings or QueueSettings()
        self._notifier = JobNotifier(
            pool,
            batch_delay=self.settings.notify_batch_delay_seconds,
            pending_interval=self.settings.notify_pending_interval_seconds,
        )

    def _backoff(self) -> dict[str, float]:
        return {
            "backoff_base": self.settings.retry_backoff_base_seconds,
            "backoff_cap": self.settings.retry_backoff_cap_seconds,
        }

    async def _fetchall(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows

    # -- producers -------------------------------------------------------

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

    # -- workers ---------------------------------------------------------

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

    async def flush_notifications(self) -> None:
        """Send notifications still waiting to be batched; call before closing the pool."""
        await self._notifier.flush()

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
            "configs": [_json(job.config.to_json_dict()) for job in jobs],
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
            "request": _json(request),
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

    # -- compute worker: results already encoded -------------------------

    async def complete_encoded(self, results: Sequence[tuple[Lease, EncodedResult]]) -> dict[uuid.UUID, str]:
        """``complete`` for results already in their stored form (``backtest_shared.results``).

        The compute worker's backtest processes encode their results, so its I/O
        process never touches a large trade list. Same statement,
        same fencing; returns id -> final status (missing: the lease was lost).
        """
        if not results:
            return {}
        rows = await self._fetchall(queue_sql.COMPLETE, self._encoded_outcome_params(results))
        await self._notifier.notify(finished=finished_keys(rows))
        return {row[0]: row[1] for row in rows}

    async def complete_encoded_and_claim(
        self, results: Sequence[tuple[Lease, EncodedResult]], worker_id: uuid.UUID, limit: int
    ) -> tuple[dict[uuid.UUID, str], list[ClaimedJob]]:
        """``complete_and_claim`` for results already in their stored form (see ``complete_encoded``)."""
        rows = await self._fetchall(
            queue_sql.COMPLETE_AND_CLAIM,
            {
                **self._encoded_outcome_params(results),
                "worker_id": worker_id,
                "limit": max(limit, 0),
                "lease_seconds": self.settings.lease_seconds,
            },
        )
        finished_rows = [(row[1], row[2], row[7]) for row in rows if row[0] == "finished"]
        claimed = [_claimed_job((row[1], *row[3:])) for row in rows if row[0] == "claimed"]
        await self._notifier.notify(finished=finished_keys(finished_rows))
        return {row[0]: row[1] for row in finished_rows}, claimed

    @staticmethod
    def _encoded_outcome_params(results: Sequence[tuple[Lease, EncodedResult]]) -> dict[str, Any]:
        return {
            "ids": [lease.job_id for lease, _ in results],
            "tokens": [lease.token for lease, _ in results],
            "metrics": [result.metrics_json for _, result in results],
            "details": [result.detail for _, result in results],
        }
