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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Coroutine
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Literal

import psycopg
from psycopg_pool import AsyncConnectionPool

from backtest_compute.dbretry import TRANSIENT_ERRORS
from backtest_compute.dbretry import TRANSIENT_OR_TIMEOUT
from backtest_compute.dbretry import with_retry
from backtest_compute.health import WorkerHealth
from backtest_compute.listener import listen_forever
from backtest_compute.logs import event
from backtest_compute.processes import BacktestProcess
from backtest_compute.processes import ProcessDiedError
from backtest_compute.protocol import Failed
from backtest_compute.protocol import Finished
from backtest_compute.reaper import Reaper
from backtest_compute.settings import WorkerSettings
from backtest_shared.batching import Batcher
from backtest_shared.db.pool import open_pool
from backtest_shared.engine import ENGINE_VERSION
from backtest_shared.jobs.models import ClaimedJob
from backtest_shared.jobs.models import Lease
from backtest_shared.jobs.models import WorkerInfo
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.repository import QueueSettings
from backtest_shared.results import EncodedResult
from backtest_shared.tasks import stop_tasks

log = logging.getLogger("backtest_compute.worker")

AbortReason = Literal["cancelled", "lost", "shutdown"]
#: A finished job's lease and its result in the stored form.
Completion = tuple[Lease, EncodedResult]
#: A completion's answer: the job's final status (None: lease lost) and the job
#: claimed in the same statement for the slot it frees, if any.
Handoff = tuple[str | None, ClaimedJob | None]

#: Exit codes of ``Worker.run``.
EXIT_OK = 0
EXIT_FATAL = 1

#: Finished notifications of jobs completing within this window go out in one
#: ``NOTIFY`` (see ``backtest_shared.jobs.notifier``); long-polling clients wait
#: at most this much longer.
NOTIFY_BATCH_DELAY_SECONDS = 0.01


@dataclass
class RunningJob:
    """A job this worker holds, from claim until its outcome is written."""

    job: ClaimedJob
    slot: BacktestProcess
    claimed_at: float
    abort: asyncio.Future[AbortReason]
    #: 'running' while the backtest runs; 'writing' once its outcome is being stored
    #: (from then on cancellation and lost leases are settled by the fenced write).
    phase: Literal["running", "writing"] = "running"

    @property
    def lease(self) -> Lease:
        return Lease(self.job.id, self.job.lease_token)

    def request_abort(self, reason: AbortReason) -> bool:
        if self.phase != "running" or self.abort.done():
            return False
        self.abort.set_result(reason)
        return True


@dataclass
class WorkerStats:
    """The worker's own counters, logged at exit (and read by tests and the benchmark)."""

    claimed: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    busy: int = 0
    max_busy: int = 0
    queue_calls: int = 0
    queue_seconds: float = 0.0
    #: Round-trip seconds of queue statements by kind (claim, complete, heartbeat, ...).
    queue_seconds_by_call: dict[str, float] = field(default_factory=dict)
    engine_seconds: float = 0.0
    first_claim: float | None = None
    last_finish: float | None = None

    def count(self, outcome: str) -> None:
        self.finished[outcome] = self.finished.get(outcome, 0) + 1


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
        self._fatal: asyncio.Future[BaseException] | None = None
        self._running: dict[uuid.UUID, RunningJob] = {}
        self._job_tasks: set[asyncio.Task[None]] = set()
        self._aux_tasks: set[asyncio.Task[None]] = set()
        self._idle: list[BacktestProcess] = []
        self._slots: list[BacktestProcess] = []
        self._progress: dict[uuid.UUID, float] = {}
        self._slot_job: dict[int, uuid.UUID] = {}
        self._pool: AsyncConnectionPool[Any] | None = None
        self._queue: JobQueue | None = None
        self._completions: Batcher[Completion, Handoff] = Batcher(self._write_completions)
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

    async def run(self) -> int:
        self._fatal = asyncio.get_running_loop().create_future()
        s = self.settings
        retry_window = max(30.0, 2 * s.lease_seconds)
        self._pool = await with_retry(
            lambda: open_pool(
                s.database_url,
                min_size=2,
                max_size=s.concurrency + 4,
                name="backtest-compute",
                application_name=self._app_name,
                synchronous_commit=s.synchronous_commit,
                generic_plans=True,
            ),
            give_up_after=retry_window,
        )
        self._queue = JobQueue(
            self._pool,
            QueueSettings(
                lease_seconds=s.lease_seconds,
                retry_backoff_base_seconds=s.retry_backoff_base,
                retry_backoff_cap_seconds=s.retry_backoff_cap,
                notify_batch_delay_seconds=NOTIFY_BATCH_DELAY_SECONDS,
            ),
        )
        exit_code = EXIT_OK
        side: list[asyncio.Task[None]] = []
        try:
            info = WorkerInfo(
                id=self.worker_id,
                name=s.name,
                host=socket.gethostname(),
                pid=os.getpid(),
                version=ENGINE_VERSION,
                slots=s.concurrency,
            )
            await with_retry(lambda: self.queue.register_worker(info), give_up_after=retry_window)
            await self._start_slots()
            event(
                log,
                "worker.started",
                worker=self.worker_id,
                name=s.name,
                slots=s.concurrency,
                lease_seconds=s.lease_seconds,
                pid=os.getpid(),
            )
            reaper = Reaper(
                self.queue,
                s.database_url,
                self._app_name,
                s.reap_interval,
                self.health,
                retention_seconds=s.retention_days * 86400.0,
                retention_batch=s.retention_batch,
            )
            claimer = self._supervise("claimer", self._claim_loop())
            side = [
                claimer,
                self._supervise("heartbeat", self._heartbeat_loop()),
                self._supervise("progress", self._progress_loop()),
                self._supervise("reaper", reaper.run()),
                self._supervise(
                    "listener", listen_forever(s.database_url, self._app_name, self._wake.set, self._on_cancel)
                ),
            ]
            stop_waiter: asyncio.Future[Any] = asyncio.ensure_future(self._stop.wait())
            fatal: asyncio.Future[Any] = self._fatal
            await asyncio.wait({stop_waiter, fatal}, return_when=asyncio.FIRST_COMPLETED)
            stop_waiter.cancel()
            if self._fatal.done():
                exit_code = EXIT_FATAL
                self._immediate = True
            self._stop.set()
            self._wake.set()
            # Let an in-flight claim finish (so every claimed job is known), then drain.
            await asyncio.wait({claimer}, timeout=30)
            await self._drain()
        finally:
            await stop_tasks(side)
            await self._stop_slots()
            try:
                await with_retry(lambda: self.queue.deregister_worker(self.worker_id), give_up_after=10)
            except Exception as exc:
                event(log, "worker.deregister_failed", logging.ERROR, worker=self.worker_id, error=str(exc))
            await self.queue.flush_notifications()
            await self._pool.close()
            event(
                log,
                "worker.stopped",
                worker=self.worker_id,
                exit_code=exit_code,
                claimed=self.stats.claimed,
                finished=self.stats.finished,
                max_busy=self.stats.max_busy,
                queue_calls=self.stats.queue_calls,
                queue_seconds=round(self.stats.queue_seconds, 4),
                queue_seconds_by_call={k: round(v, 4) for k, v in self.stats.queue_seconds_by_call.items()},
                engine_seconds=round(self.stats.engine_seconds, 4),
                first_claim=self.stats.first_claim,
                last_finish=self.stats.last_finish,
            )
        return exit_code

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

    # -- supervision -----------------------------------------------------

    def _supervise(self, name: str, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(lambda t: self._on_side_task_done(name, t))
        return task

    def _on_side_task_done(self, name: str, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if name == "claimer" and error is None and self._stop.is_set():
            return  # the claimer ends by itself once stopping
        reason = error or RuntimeError(f"{name} returned unexpectedly")
        self._die(name, reason)

    def _die(self, name: str, error: BaseException) -> None:
        fields = {"worker": self.worker_id, "task": name, "error": f"{type(error).__name__}: {error}"}
        log.critical("worker.fatal", exc_info=error, extra={"fields": fields})
        if self._fatal is not None and not self._fatal.done():
            self._fatal.set_result(error)

    def _track(self, tasks: set[asyncio.Task[None]], name: str, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro, name=name)
        tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                self._die(name, t.exception() or RuntimeError(name))

        task.add_done_callback(done)

    # -- slots -----------------------------------------------------------

    async def _start_slots(self) -> None:
        self._slots = [
            BacktestProcess(i, self.settings.database_url, self.settings.dataset_cache_bytes, self._on_progress)
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
            self._track(self._aux_tasks, f"replace-slot-{slot.index}", self._replace(slot))

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
                jobs = await self._timed(self.queue.claim(self.worker_id, free))
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

    def _start_job(self, job: ClaimedJob, slot: BacktestProcess | None = None) -> None:
        """Run a claimed job on ``slot`` (handed over by a completion) or on an idle one."""
        if slot is None:
            slot = self._idle.pop()
        loop = asyncio.get_running_loop()
        running = RunningJob(job=job, slot=slot, claimed_at=time.monotonic(), abort=loop.create_future())
        self._running[job.id] = running
        self._slot_job[slot.index] = job.id
        self.stats.claimed += 1
        self.stats.busy += 1
        self.stats.max_busy = max(self.stats.max_busy, self.stats.busy)
        if self.stats.first_claim is None:
            self.stats.first_claim = time.time()
        event(
            log,
            "job.claimed",
            job_id=job.id,
            worker=self.worker_id,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            slot=slot.index,
        )
        self._track(self._job_tasks, f"job-{job.id}", self._run_job(running))

    # -- one job ---------------------------------------------------------

    async def _run_job(self, running: RunningJob) -> None:
        next_job: ClaimedJob | None = None
        try:
            next_job = await self._execute(running)
        finally:
            self._running.pop(running.job.id, None)
            self._progress.pop(running.job.id, None)
            self._slot_job.pop(running.slot.index, None)
            self.stats.busy -= 1
            if next_job is not None and running.slot.alive and not self._stop.is_set():
                self._start_job(next_job, running.slot)
            else:
                if next_job is not None:
                    self._track(self._aux_tasks, f"release-{next_job.id}", self._release_unstarted(next_job))
                self._release_slot(running.slot)

    async def _release_unstarted(self, job: ClaimedJob) -> None:
        """Hand back a job claimed for a slot that cannot take it: stopping, or its process died (rare)."""
        lease = Lease(job.id, job.lease_token)
        await with_retry(lambda: self._timed(self.queue.release([lease])), give_up_after=10)

    async def _execute(self, running: RunningJob) -> ClaimedJob | None:
        """Run the job and write its outcome; returns the next job for this slot, if one was claimed."""
        job, slot = running.job, running.slot
        dispatched = time.monotonic()
        reply_task: asyncio.Future[Any] = asyncio.ensure_future(
            slot.run(str(job.id), str(job.dataset_id), job.config_json)
        )
        abort: asyncio.Future[Any] = running.abort
        done, _ = await asyncio.wait(
            {reply_task, abort}, timeout=job.timeout_seconds, return_when=asyncio.FIRST_COMPLETED
        )
        run_seconds = time.monotonic() - dispatched
        self.stats.engine_seconds += run_seconds
        if reply_task in done:
            running.phase = "writing"
            try:
                reply = reply_task.result()
            except ProcessDiedError:
                await slot.kill()
                message = f"backtest process died (exit code {slot.last_exitcode})"
                await self._fail(running, message, retry=True, outcome="crashed")
                return None
            if isinstance(reply, Finished):
                return await self._complete(running, reply)
            await self._fail_reply(running, reply)
            return None
        # Aborted or timed out: the backtest is still running, stop it now.
        reply_task.cancel()
        await slot.kill()
        running.phase = "writing"
        if running.abort.done():
            await self._aborted(running, running.abort.result())
        else:
            message = f"timeout: exceeded {job.timeout_seconds} s"
            await self._fail(running, message, retry=False, outcome="timeout")
        return None

    async def _complete(self, running: RunningJob, reply: Finished) -> ClaimedJob | None:
        started = time.monotonic()
        result: Completion = (running.lease, reply.result)
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
        limit = 0 if self._stop.is_set() or "claim" in self.health.failing else len(results)
        give_up_after = max(30.0, 2 * self.settings.lease_seconds)
        try:
            statuses, claimed = await with_retry(
                lambda: self._timed(self.queue.complete_encoded_and_claim(results, self.worker_id, limit)),
                give_up_after=give_up_after,
            )
        except psycopg.DatabaseError as exc:
            if isinstance(exc, TRANSIENT_ERRORS) or limit == 0:
                raise
            # The claim half failed and took the completions with it: store them
            # alone, and let the claim loop back off and retry the claim.
            self.health.failed("claim", "COMPLETE_AND_CLAIM", exc, worker=self.worker_id, limit=limit)
            self._wake.set()
            statuses = await with_retry(
                lambda: self._timed(self.queue.complete_encoded(results)), give_up_after=give_up_after
            )
            claimed = []
        handoffs: list[ClaimedJob | None] = [*claimed, *([None] * (len(results) - len(claimed)))]
        return [(statuses.get(lease.job_id), job) for (lease, _), job in zip(results, handoffs, strict=True)]

    async def _fail_reply(self, running: RunningJob, reply: Failed) -> None:
        retry = reply.kind == "error"
        await self._fail(running, reply.message, retry=retry, outcome="error" if retry else "invalid")

    async def _aborted(self, running: RunningJob, reason: AbortReason) -> None:
        if reason == "cancelled":
            # FAIL ends a job whose cancel was requested as 'cancelled', fenced.
            await self._fail(running, "cancelled by request", retry=False, outcome="cancelled")
        elif reason == "shutdown":
            try:
                statuses = await with_retry(lambda: self._timed(self.queue.release([running.lease])), give_up_after=10)
            except Exception as exc:
                self._log_write_failure(running, exc)
                return
            self._finished(running, statuses.get(running.job.id, "lost"), outcome="released")
        else:
            self._finished(running, "lost", outcome="lost")

    async def _fail(self, running: RunningJob, message: str, *, retry: bool, outcome: str) -> None:
        started = time.monotonic()
        try:
            status = await with_retry(
                lambda: self._timed(self.queue.fail(running.lease, message, retry=retry)),
                give_up_after=max(30.0, 2 * self.settings.lease_seconds),
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

    async def _timed(self, call: Coroutine[Any, Any, Any]) -> Any:
        """Await a queue call, adding its round-trip time to the stats (under the method's name)."""
        started = time.perf_counter()
        try:
            return await call
        finally:
            elapsed = time.perf_counter() - started
            name = call.__qualname__.rsplit(".", 1)[-1]
            by_call = self.stats.queue_seconds_by_call
            by_call[name] = by_call.get(name, 0.0) + elapsed
            self.stats.queue_calls += 1
            self.stats.queue_seconds += elapsed

    # -- cancellation, heartbeats, progress ------------------------------

    def _on_cancel(self, job_id: uuid.UUID) -> None:
        running = self._running.get(job_id)
        if running is not None and running.request_abort("cancelled"):
            event(log, "job.cancel_requested", job_id=job_id, worker=self.worker_id)

    async def _heartbeat_loop(self) -> None:
        interval = self.settings.heartbeat_interval
        last_ok = time.monotonic()
        lost_everything = False
        while True:
            await asyncio.sleep(interval)
            snapshot = list(self._running.values())
            try:
                async with asyncio.timeout(interval):
                    reply = await self._timed(
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
                    for running in list(self._running.values()):
                        running.request_abort("lost")
                continue
            last_ok = time.monotonic()
            lost_everything = False
            for running in snapshot:
                if running.job.id not in reply.held:
                    running.request_abort("lost")
                elif running.job.id in reply.cancel_requested and running.request_abort("cancelled"):
                    event(log, "job.cancel_requested", job_id=running.job.id, worker=self.worker_id)

    def _on_progress(self, slot_index: int, fraction: float) -> None:
        job_id = self._slot_job.get(slot_index)
        if job_id is not None:
            self._progress[job_id] = fraction

    async def _progress_loop(self) -> None:
        """Write the latest progress of every job at most once per interval, in one statement."""
        while True:
            await asyncio.sleep(self.settings.progress_interval)
            if not self._progress:
                continue
            updates = [
                (self._running[job_id].lease, fraction)
                for job_id, fraction in self._progress.items()
                if job_id in self._running
            ]
            self._progress.clear()
            try:
                async with asyncio.timeout(5.0):
                    await self._timed(self.queue.report_progress(updates))
            except TRANSIENT_OR_TIMEOUT as exc:
                event(log, "progress.failed", logging.WARNING, worker=self.worker_id, error=str(exc).strip())
