"""Keeping the worker's leases alive: heartbeats, cancel requests and progress writes.

The heartbeat is the only thing that tells a running job its lease was lost or
its cancel requested (besides the listener's cancel notifications); both end
in ``RunningJob.request_abort``, which is a no-op once the job's outcome is
being written, because the fenced write settles those cases itself.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

from backtest_compute.dbretry import TRANSIENT_OR_TIMEOUT
from backtest_compute.health import WorkerHealth
from backtest_compute.logs import event
from backtest_compute.running import RunningJob
from backtest_compute.running import WorkerStats
from backtest_compute.settings import WorkerSettings
from backtest_shared.jobs.repository import JobQueue

#: The worker's parts log under one logger name, so operators filter one name.
log = logging.getLogger("backtest_compute.worker")


class Keepalive:
    """Heartbeat and progress loops over the jobs in ``running`` (the worker's own dict, shared)."""

    def __init__(
        self,
        queue: JobQueue,
        settings: WorkerSettings,
        worker_id: uuid.UUID,
        running: dict[uuid.UUID, RunningJob],
        health: WorkerHealth,
        stats: WorkerStats,
    ) -> None:
        self.queue = queue
        self.settings = settings
        self.worker_id = worker_id
        self.running = running
        self.health = health
        self.stats = stats
        #: Latest unwritten progress by job; written and cleared once per interval.
        self._progress: dict[uuid.UUID, float] = {}

    def ended(self, running: RunningJob) -> None:
        self._progress.pop(running.job.id, None)

    def on_cancel(self, job_id: uuid.UUID) -> None:
        running = self.running.get(job_id)
        if running is not None and running.request_abort("cancelled"):
            event(log, "job.cancel_requested", job_id=job_id, worker=self.worker_id)

    def on_progress(self, job_id: str, fraction: float) -> None:
        """A backtest process reported progress of one of its tasks (a job this worker holds)."""
        held = uuid.UUID(job_id)
        if held in self.running:
            self._progress[held] = fraction

    async def heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_interval
        last_ok = time.monotonic()
        lost_everything = False
        while True:
            await asyncio.sleep(interval)
            snapshot = list(self.running.values())
            try:
                async with asyncio.timeout(interval):
                    reply = await self.stats.timed(
                        self.queue.heartbeat(self.worker_id, [r.lease for r in snapshot], degraded=self.health.degraded)
                    )
            except TRANSIENT_OR_TIMEOUT as exc:
                silent_for = time.monotonic() - last_ok
                event(
                    log,
                    "heartbeat.failed",
                    logging.WARNING,
                    worker=self.worker_id,
                    silent_seconds=round(silent_for, 2),
                    error=f"{type(exc).__name__}: {exc}".strip(),
                )
                if silent_for > self.settings.lease_seconds:
                    # Our leases have expired: the jobs may already run elsewhere.
                    if not lost_everything:
                        event(log, "heartbeat.leases_expired", logging.ERROR, worker=self.worker_id)
                    lost_everything = True
                    for running in list(self.running.values()):
                        running.request_abort("lost")
                continue
            last_ok = time.monotonic()
            lost_everything = False
            for running in snapshot:
                if running.job.id not in reply.held:
                    running.request_abort("lost")
                elif running.job.id in reply.cancel_requested and running.request_abort("cancelled"):
                    event(log, "job.cancel_requested", job_id=running.job.id, worker=self.worker_id)

    async def progress_loop(self) -> None:
        """Write the latest progress of every job at most once per interval, in one statement."""
        while True:
            await asyncio.sleep(self.settings.progress_interval)
            if not self._progress:
                continue
            updates = [
                (self.running[job_id].lease, fraction)
                for job_id, fraction in self._progress.items()
                if job_id in self.running
            ]
            self._progress.clear()
            try:
                async with asyncio.timeout(5.0):
                    await self.stats.timed(self.queue.report_progress(updates))
            except TRANSIENT_OR_TIMEOUT as exc:
                event(log, "progress.failed", logging.WARNING, worker=self.worker_id, error=str(exc).strip())
