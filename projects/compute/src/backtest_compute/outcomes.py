"""Writing a job's outcome: its result, its failure, or handing it back to the queue.

Every write is one fenced statement (``JobQueue``): a write that arrives after
the lease was lost changes nothing and reports the job as 'lost'. A write that
still fails after its retries is logged; the lease then expires and the reaper
re-queues the job.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

import psycopg

from backtest_compute.dbretry import TRANSIENT_ERRORS
from backtest_compute.dbretry import with_retry
from backtest_compute.health import WorkerHealth
from backtest_compute.logs import event
from backtest_compute.protocol import Failed
from backtest_compute.protocol import Finished
from backtest_compute.running import AbortReason
from backtest_compute.running import RunningJob
from backtest_compute.running import WorkerStats
from backtest_compute.settings import WorkerSettings
from backtest_shared.batching import Batcher
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.results import EncodedResult

#: The worker's parts log under one logger name, so operators filter one name.
log = logging.getLogger("backtest_compute.worker")

#: A finished job's lease, its result in the stored form, and whether its slot
#: is then free (so the same statement may claim the slot's next job).
Completion = tuple[Lease, EncodedResult, bool]
#: A completion's answer: the job's final status (None: lease lost) and the job
#: claimed in the same statement for the slot it frees, if any.
Handoff = tuple[str | None, ClaimedJob | None]


class OutcomeWriter:
    """Stores the outcomes of the worker's jobs and logs each job's final state.

    ``stopping`` and ``wake`` are the worker's: once stopping, completions claim
    nothing; ``wake`` nudges the claim loop when a completion's claim half failed.
    """

    def __init__(
        self,
        queue: JobQueue,
        settings: WorkerSettings,
        worker_id: uuid.UUID,
        health: WorkerHealth,
        stats: WorkerStats,
        *,
        stopping: asyncio.Event,
        wake: asyncio.Event,
    ) -> None:
        self.queue = queue
        self.settings = settings
        self.worker_id = worker_id
        self.health = health
        self.stats = stats
        self._stopping = stopping
        self._wake = wake
        self._completions: Batcher[Completion, Handoff] = Batcher(self._write_completions)

    @property
    def _give_up_after(self) -> float:
        """How long a final write is retried: past that the lease has expired anyway."""
        return max(30.0, 2 * self.settings.lease_seconds)

    async def complete(self, running: RunningJob, reply: Finished, *, frees_slot: bool = True) -> ClaimedJob | None:
        """Store the result; returns the job claimed for the freed slot in the same statement, if any.

        ``frees_slot`` is False for a job of a batch whose slot still runs others:
        nothing is claimed for it.
        """
        started = time.monotonic()
        result: Completion = (running.lease, reply.result, frees_slot)
        try:
            status, next_job = await self._completions.submit(result)
        except Exception as exc:
            self._log_write_failure(running, exc)
            return None
        self._finished(
            running,
            status or "lost",
            load_ms=round(reply.load_ms, 2),
            run_ms=round(reply.run_ms, 2),
            write_ms=round((time.monotonic() - started) * 1000, 2),
            dataset_cached=reply.dataset_cached,
        )
        return next_job

    async def _write_completions(self, results: Sequence[Completion]) -> list[Handoff]:
        """Finish a batch and, in the same statement, claim a next job for each slot it frees.

        The worker so never holds more jobs than slots, yet a busy slot costs one
        round trip per job instead of two. Nothing is claimed once stopping.
        """
        freed = sum(1 for _, _, frees_slot in results if frees_slot)
        limit = 0 if self._stopping.is_set() or "claim" in self.health.failing else freed
        stored = [(lease, result) for lease, result, _ in results]
        try:
            statuses, claimed = await with_retry(
                lambda: self.stats.timed(self.queue.complete_encoded_and_claim(stored, self.worker_id, limit)),
                give_up_after=self._give_up_after,
            )
        except psycopg.DatabaseError as exc:
            if isinstance(exc, TRANSIENT_ERRORS) or limit == 0:
                raise
            # The claim half failed and took the completions with it: store them
            # alone, and let the claim loop back off and retry the claim.
            self.health.failed("claim", "COMPLETE_AND_CLAIM", exc, worker=self.worker_id, limit=limit)
            self._wake.set()
            statuses = await with_retry(
                lambda: self.stats.timed(self.queue.complete_encoded(stored)), give_up_after=self._give_up_after
            )
            claimed = []
        next_jobs = iter(claimed)
        return [
            (statuses.get(lease.job_id), next(next_jobs, None) if frees_slot else None)
            for lease, _, frees_slot in results
        ]

    async def fail_reply(self, running: RunningJob, reply: Failed) -> None:
        retry = reply.kind == "error"
        await self.fail(running, reply.message, retry=retry, outcome="error" if retry else "invalid")

    async def aborted(self, running: RunningJob, reason: AbortReason) -> None:
        if reason == "cancelled":
            # FAIL ends a job whose cancel was requested as 'cancelled', fenced.
            await self.fail(running, "cancelled by request", retry=False, outcome="cancelled")
        elif reason == "shutdown":
            await self.hand_back(running)
        else:
            self._finished(running, "lost", outcome="lost")

    async def hand_back(self, running: RunningJob) -> None:
        """Return a held job to the queue as it was (its attempt not counted): stopping, or a batch cut short."""
        try:
            statuses = await with_retry(lambda: self.stats.timed(self.queue.release([running.lease])), give_up_after=10)
        except Exception as exc:
            self._log_write_failure(running, exc)
            return
        self._finished(running, statuses.get(running.job.id, "lost"), outcome="released")

    async def fail(self, running: RunningJob, message: str, *, retry: bool, outcome: str) -> None:
        started = time.monotonic()
        try:
            status = await with_retry(
                lambda: self.stats.timed(self.queue.fail(running.lease, message, retry=retry)),
                give_up_after=self._give_up_after,
            )
        except Exception as exc:
            self._log_write_failure(running, exc)
            return
        self._finished(
            running,
            status or "lost",
            outcome=outcome,
            error=message,
            write_ms=round((time.monotonic() - started) * 1000, 2),
        )

    async def release_unstarted(self, job: ClaimedJob) -> None:
        """Hand back a job claimed for a slot that cannot take it: stopping, or its process died (rare)."""
        lease = Lease(job.id, job.lease_token)
        await with_retry(lambda: self.stats.timed(self.queue.release([lease])), give_up_after=10)

    def _finished(self, running: RunningJob, status: str, **fields: Any) -> None:
        """Log the job's new state; 'lost' means the lease was no longer ours (nothing written)."""
        self.stats.count(status)
        self.stats.last_finish = time.time()
        level = logging.WARNING if status in ("lost", "failed") else logging.INFO
        event(
            log,
            f"job.{status}",
            level,
            job_id=running.job.id,
            worker=self.worker_id,
            attempt=running.job.attempt,
            total_ms=round((time.monotonic() - running.claimed_at) * 1000, 2),
            **fields,
        )

    def _log_write_failure(self, running: RunningJob, error: BaseException) -> None:
        """The database stayed unreachable: the lease will expire and the reaper re-queues the job."""
        self.stats.count("write_failed")
        event(
            log,
            "job.write_failed",
            logging.ERROR,
            job_id=running.job.id,
            worker=self.worker_id,
            attempt=running.job.attempt,
            error=f"{type(error).__name__}: {error}",
        )
