"""The compute worker: claim jobs for free slots, run them in backtest processes, write outcomes.

The main process only does I/O on one asyncio loop: claiming, heartbeats,
LISTEN, the reaper, progress and result writes. Backtests run in one
long-lived child process per slot (``processes``). Every queue write is a
single fenced statement (``JobQueue``), so nothing here holds a transaction
open while a backtest runs, and a write that arrives after the lease was lost
changes nothing.

Side tasks (claimer, heartbeat, listener, reaper, progress) are supervised.
Database errors never stop the worker: transient ones are retried, and any
other in a claim or a reap (bad data a restart would meet again) is logged with
its statement and keys while the loop backs off and the worker reports itself
degraded (``health``); running jobs keep their heartbeats. A side task that dies
of anything else (a bug) makes the worker stop with a non-zero exit code
instead of limping on.

This module holds the worker's life cycle, slots, claiming and the run of one
job; heartbeats and progress live in ``keepalive``, outcome writes in
``outcomes``, the data both share in ``running``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from backtest_compute.batches import BatchSizer
from backtest_compute.dbretry import TRANSIENT_ERRORS
from backtest_compute.dbretry import with_retry
from backtest_compute.health import WorkerHealth
from backtest_compute.keepalive import Keepalive
from backtest_compute.listener import listen_forever
from backtest_compute.logs import event
from backtest_compute.outcomes import OutcomeWriter
from backtest_compute.processes import BacktestProcess
from backtest_compute.reaper import Reaper
from backtest_compute.running import RunningJob
from backtest_compute.running import WorkerStats
from backtest_compute.settings import WorkerSettings
from backtest_compute.slot_run import SlotRun
from backtest_compute.supervision import Supervisor
from backtest_shared.db.pool import open_pool
from backtest_shared.engine import ENGINE_VERSION
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import WorkerInfo
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_shared.tasks import stop_tasks

log = logging.getLogger("backtest_compute.worker")

#: Exit codes of ``Worker.run``.
EXIT_OK = 0
EXIT_FATAL = 1

#: Finished notifications of jobs completing within this window go out in one
#: ``NOTIFY`` (see ``backtest_shared.jobs.notifier``); long-polling clients wait
#: at most this much longer.
NOTIFY_BATCH_DELAY_SECONDS = 0.01


class Worker:
    """One compute worker process; ``await run()`` until stopped, returns the exit code."""

    def __init__(self, settings: WorkerSettings, *, worker_id: uuid.UUID | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id or uuid.uuid4()
        self.stats = WorkerStats()
        self.health = WorkerHealth()
        self._stop = asyncio.Event()
        self._immediate = False
        self._wake = asyncio.Event()
        self._supervisor = Supervisor(self.worker_id, self._stop)
        self._running: dict[uuid.UUID, RunningJob] = {}
        self._sizer = BatchSizer(settings.sweep_batch, settings.sweep_batch_seconds)
        self._job_tasks: set[asyncio.Task[None]] = set()
        self._aux_tasks: set[asyncio.Task[None]] = set()
        self._idle: list[BacktestProcess] = []
        self._slots: list[BacktestProcess] = []
        self._queue: JobQueue | None = None
        self._app_name = f"backtest-compute {settings.name}"[:63]

    # -- control ---------------------------------------------------------

    def request_stop(self) -> None:
        """First call: stop claiming and drain within the grace period. Second call: stop now."""
        if self._stop.is_set():
            if not self._immediate:
                self._immediate = True
                event(log, "worker.stop_now", worker=self.worker_id)
                for running in list(self._running.values()):
                    running.request_abort("shutdown")
            return
        event(log, "worker.stopping", worker=self.worker_id, running=len(self._running))
        self._stop.set()
        self._wake.set()

    @property
    def queue(self) -> JobQueue:
        assert self._queue is not None, "the worker is not running"
        return self._queue

    # The worker's parts need the queue, so each is built on first use, once running.

    @functools.cached_property
    def _keepalive(self) -> Keepalive:
        return Keepalive(self.queue, self.settings, self.worker_id, self._running, self.health, self.stats)

    @functools.cached_property
    def _outcomes(self) -> OutcomeWriter:
        return OutcomeWriter(
            self.queue, self.settings, self.worker_id, self.health, self.stats, stopping=self._stop, wake=self._wake
        )

    async def run(self) -> int:
        fatal = self._supervisor.start()
        pool = await self._open_queue()
        exit_code = EXIT_OK
        side: list[asyncio.Task[None]] = []
        try:
            await self._register()
            await self._start_slots()
            event(
                log,
                "worker.started",
                worker=self.worker_id,
                name=self.settings.name,
                slots=self.settings.concurrency,
                lease_seconds=self.settings.lease_seconds,
                pid=os.getpid(),
            )
            side = self._start_side_tasks()
            exit_code = await self._until_stopped(fatal)
            # Let an in-flight claim finish (so every claimed job is known), then drain.
            claimer = side[0]
            await asyncio.wait({claimer}, timeout=30)
            await self._drain()
        finally:
            await self._shut_down(side, pool, exit_code)
        return exit_code

    @property
    def _retry_window(self) -> float:
        """How long start-up retries an unreachable database before giving up."""
        return max(30.0, 2 * self.settings.lease_seconds)

    async def _open_queue(self) -> AsyncConnectionPool[Any]:
        s = self.settings
        pool = await with_retry(
            lambda: open_pool(
                s.database_url,
                min_size=2,
                max_size=s.concurrency + 4,
                name="backtest-compute",
                application_name=self._app_name,
                synchronous_commit=s.synchronous_commit,
                generic_plans=True,
            ),
            give_up_after=self._retry_window,
        )
        self._queue = JobQueue(
            pool,
            QueueSettings(
                lease_seconds=s.lease_seconds,
                retry_backoff_base_seconds=s.retry_backoff_base,
                retry_backoff_cap_seconds=s.retry_backoff_cap,
                notify_batch_delay_seconds=NOTIFY_BATCH_DELAY_SECONDS,
            ),
        )
        return pool

    async def _register(self) -> None:
        s = self.settings
        info = WorkerInfo(
            id=self.worker_id,
            name=s.name,
            host=socket.gethostname(),
            pid=os.getpid(),
            version=ENGINE_VERSION,
            slots=s.concurrency,
        )
        await with_retry(lambda: self.queue.register_worker(info), give_up_after=self._retry_window)

    def _start_side_tasks(self) -> list[asyncio.Task[None]]:
        """Start the supervised side tasks; the claimer comes first."""
        s = self.settings
        reaper = Reaper(
            self.queue,
            s.database_url,
            self._app_name,
            s.reap_interval,
            self.health,
            retention_seconds=s.retention_days * 86400.0,
            retention_batch=s.retention_batch,
        )
        on_cancel = self._keepalive.on_cancel
        supervise = self._supervisor.supervise
        return [
            # The claimer ends by itself once stopping.
            supervise("claimer", self._claim_loop(), ends_when_stopping=True),
            supervise("heartbeat", self._heartbeat_loop()),
            supervise("progress", self._progress_loop()),
            supervise("reaper", reaper.run()),
            supervise("listener", listen_forever(s.database_url, self._app_name, self._wake.set, on_cancel)),
        ]

    async def _until_stopped(self, fatal: asyncio.Future[BaseException]) -> int:
        """Wait for a stop request or a fatal error; then stop claiming. Returns the exit code."""
        stop_waiter: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({stop_waiter, fatal}, return_when=asyncio.FIRST_COMPLETED)
        stop_waiter.cancel()
        exit_code = EXIT_OK
        if fatal.done():
            exit_code = EXIT_FATAL
            self._immediate = True
        self._stop.set()
        self._wake.set()
        return exit_code

    async def _shut_down(self, side: list[asyncio.Task[None]], pool: AsyncConnectionPool[Any], exit_code: int) -> None:
        """Stop side tasks and slots, deregister, and close the pool; never raises for the deregister."""
        await stop_tasks(side)
        await self._stop_slots()
        try:
            await with_retry(lambda: self.queue.deregister_worker(self.worker_id), give_up_after=10)
        except Exception as exc:
            event(log, "worker.deregister_failed", logging.ERROR, worker=self.worker_id, error=str(exc))
        await self.queue.flush_notifications()
        await pool.close()
        event(log, "worker.stopped", worker=self.worker_id, exit_code=exit_code, **self.stats.summary())

    async def _drain(self) -> None:
        """Give running jobs the grace period, then hand the rest back to the queue."""
        grace_ends = time.monotonic() + self.settings.shutdown_grace
        while self._job_tasks and not self._immediate and (left := grace_ends - time.monotonic()) > 0:
            await asyncio.wait(set(self._job_tasks), timeout=left, return_when=asyncio.FIRST_COMPLETED)
        give_up = time.monotonic() + max(30.0, self.settings.lease_seconds)
        while self._job_tasks and (left := give_up - time.monotonic()) > 0:
            for running in list(self._running.values()):
                running.request_abort("shutdown")
            await asyncio.wait(set(self._job_tasks), timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if self._aux_tasks:
            await asyncio.wait(set(self._aux_tasks), timeout=10)

    # The side loops are methods of the worker so a test can replace one (a loop
    # that fails, or one that ignores its cancellation).

    async def _heartbeat_loop(self) -> None:
        await self._keepalive.heartbeat_loop()

    async def _progress_loop(self) -> None:
        await self._keepalive.progress_loop()

    # -- slots -----------------------------------------------------------

    async def _start_slots(self) -> None:
        on_progress = self._keepalive.on_progress
        self._slots = [
            BacktestProcess(i, self.settings.database_url, self.settings.dataset_cache_bytes, on_progress)
            for i in range(self.settings.concurrency)
        ]
        await asyncio.gather(*(slot.start() for slot in self._slots))
        self._idle = list(self._slots)

    async def _stop_slots(self) -> None:
        await asyncio.gather(*(slot.stop() for slot in self._slots), return_exceptions=True)

    async def _replace(self, slot: BacktestProcess) -> None:
        """Give a slot a fresh process after its old one was killed or died."""
        await slot.kill()
        delay = 0.5
        for attempt in range(1, 6):
            try:
                await slot.start()
                break
            except Exception as exc:
                event(log, "slot.start_failed", logging.ERROR, slot=slot.index, attempt=attempt, error=str(exc))
                if attempt == 5:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
        self._idle.append(slot)
        self._wake.set()

    def _release_slot(self, slot: BacktestProcess) -> None:
        if slot.alive:
            self._idle.append(slot)
            self._wake.set()
        elif not self._stop.is_set():
            self._supervisor.track(self._aux_tasks, f"replace-slot-{slot.index}", self._replace(slot))

    # -- claiming --------------------------------------------------------

    async def _claim_loop(self) -> None:
        delay = 0.1
        while not self._stop.is_set():
            free = len(self._idle)
            if free == 0:
                await self._wake.wait()
                self._wake.clear()
                continue
            self._wake.clear()
            try:
                jobs = await self.stats.timed(self.queue.claim(self.worker_id, free))
                delay = 0.1
                self.health.succeeded("claim")
            except TRANSIENT_ERRORS as exc:
                event(log, "claim.failed", logging.WARNING, worker=self.worker_id, error=str(exc).strip())
                await self._sleep_or_wake(delay)
                delay = min(delay * 2, 5.0)
                continue
            except psycopg.DatabaseError as exc:
                backoff = self.health.failed("claim", "CLAIM", exc, worker=self.worker_id, limit=free)
                await asyncio.sleep(backoff)
                continue
            for job in jobs:
                self._start_job(job)
            if len(jobs) < free:
                await self._sleep_or_wake(self.settings.poll_interval)

    async def _sleep_or_wake(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wake.wait()

    def _start_job(self, job: ClaimedJob) -> None:
        """Run a claimed job on an idle slot; the slot's run then keeps itself fed (``slot_run``)."""
        slot = self._idle.pop()
        running = self._hold(job, slot)
        self.stats.busy += 1
        self.stats.max_busy = max(self.stats.max_busy, self.stats.busy)
        if self.stats.first_claim is None:
            self.stats.first_claim = time.time()
        self._supervisor.track(self._job_tasks, f"job-{job.id}", self._run_slot(running))

    def _hold(self, job: ClaimedJob, slot: BacktestProcess) -> RunningJob:
        """Register a job just claimed for ``slot``: heartbeats, cancels and shutdown reach it from now on."""
        running = RunningJob(
            job=job, slot=slot, claimed_at=time.monotonic(), abort=asyncio.get_running_loop().create_future()
        )
        self._running[job.id] = running
        self.stats.claimed += 1
        event(
            log,
            "job.claimed",
            job_id=job.id,
            worker=self.worker_id,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            slot=slot.index,
        )
        return running

    # -- one slot's run ----------------------------------------------------

    async def _run_slot(self, running: RunningJob) -> None:
        """Run jobs on the slot, starting with ``running``, until none is left; then free the slot."""
        slot = running.slot
        run = SlotRun(
            slot,
            self._outcomes,
            self.stats,
            self._sizer,
            hold=lambda job: self._hold(job, slot),
            claim_siblings=self._claim_siblings,
            claim_ahead=self._claim_ahead,
            stopping=self._stop,
        )
        try:
            await run.run(running)
        finally:
            for member in (running, *run.members):
                self._running.pop(member.job.id, None)
                self._keepalive.ended(member)
            self.stats.busy -= 1
            self._release_slot(slot)

    def _claiming(self) -> bool:
        return not self._stop.is_set() and "claim" not in self.health.failing

    async def _claim_ahead(self) -> ClaimedJob | None:
        """One more job for a slot about to run out (``slot_run``); None once stopping or while claims fail."""
        if not self._claiming():
            return None
        try:
            jobs = await self.stats.timed(self.queue.claim(self.worker_id, 1))
        except psycopg.Error as exc:
            event(log, "claim.failed", logging.WARNING, worker=self.worker_id, error=str(exc).strip())
            return None
        return jobs[0] if jobs else None

    async def _claim_siblings(self, running: RunningJob) -> list[RunningJob]:
        """More children of the job's bundle to run in the same batch (``BatchSizer`` says how many).

        None once stopping or while claims fail; a failed sibling claim only
        means a batch of one, so its error is logged and not retried.
        """
        more = self._sizer.size(running.job) - 1
        if more <= 0 or not self._claiming():
            return []
        try:
            jobs = await self.stats.timed(self.queue.claim_siblings(self.worker_id, running.job, more))
        except psycopg.Error as exc:
            event(log, "claim_siblings.failed", logging.WARNING, worker=self.worker_id, error=str(exc).strip())
            return []
        self.stats.batched += len(jobs)
        return [self._hold(job, running.slot) for job in jobs]
