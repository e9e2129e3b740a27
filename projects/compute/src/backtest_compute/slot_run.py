"""A slot's run: jobs one after another through one backtest process, kept fed while outcomes are written.

The process runs one task at a time; the slot holds the jobs it will run next
(``ready``). Each job stays a job: its own lease, fenced write, progress,
cancel and result, written as soon as the process answers it (completions of
several slots share one statement).

**Keeping the process fed.** Storing an outcome takes a round trip. The next
job is sent the moment the previous one answers, so the process waits for no
write when one is ready: a claimed child of a bundle brings more children of
its bundle with it (``batches``), and a slot whose last job ran for less than
``AHEAD_BELOW_SECONDS`` claims one job ahead while it runs one. A completion
that leaves the slot with nothing ready claims its next job in the same
statement. Slow jobs are never claimed ahead: a job waiting behind a long one
would show as running and be kept from idle slots elsewhere. So a worker holds
at most one job per slot beyond the running one, plus batch siblings.

**What ends a run early:**

* the running job is aborted (cancelled, lease lost, stopping now): the process
  is killed and the job settled by its reason;
* the running job exceeds its timeout, or its process dies: it fails as a
  single job would.

Then the jobs ready behind it go back to the queue untouched (their attempt
is not counted), as they do once the worker is stopping. A ready job aborted
before it starts is settled without running.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable
from collections.abc import Callable
from typing import Any

from backtest_compute.batches import BatchSizer
from backtest_compute.batches import task_of
from backtest_compute.outcomes import OutcomeWriter
from backtest_compute.processes import BacktestProcess
from backtest_compute.processes import ProcessDiedError
from backtest_compute.processes import Reply
from backtest_compute.protocol import Finished
from backtest_compute.running import RunningJob
from backtest_compute.running import WorkerStats
from backtest_shared.jobs.models import ClaimedJob

#: A slot claims a job ahead only while its jobs run shorter than this: for
#: them the round trip of a write is worth hiding; for longer ones it is not.
AHEAD_BELOW_SECONDS = 0.5

#: Register a job claimed for this slot with the worker (heartbeats, cancels reach it).
Hold = Callable[[ClaimedJob], RunningJob]
#: Claim more children of a held job's bundle for this slot, already held.
ClaimSiblings = Callable[[RunningJob], Awaitable[list[RunningJob]]]
#: Claim one job for this slot ahead of need (None: nothing to run, or not now).
ClaimAhead = Callable[[], Awaitable[ClaimedJob | None]]


class SlotRun:
    """Runs jobs on one slot until none is left; ``members`` are every job it held."""

    def __init__(
        self,
        slot: BacktestProcess,
        outcomes: OutcomeWriter,
        stats: WorkerStats,
        sizer: BatchSizer,
        *,
        hold: Hold,
        claim_siblings: ClaimSiblings,
        claim_ahead: ClaimAhead,
        stopping: asyncio.Event,
    ) -> None:
        self.slot = slot
        self.outcomes = outcomes
        self.stats = stats
        self.sizer = sizer
        self._hold = hold
        self._claim_siblings = claim_siblings
        self._claim_ahead = claim_ahead
        self._stopping = stopping
        self.members: list[RunningJob] = []
        self._ready: collections.deque[RunningJob] = collections.deque()
        #: Writes and arrivals in flight; an arrival admits the job a write or claim brings.
        self._tasks: set[asyncio.Task[None]] = set()
        self._arrivals: set[asyncio.Task[None]] = set()
        self._last_run_seconds: float | None = None
        self._closed = False

    async def run(self, first: RunningJob) -> None:
        try:
            await self._admit(first)
            await self._stream()
        finally:
            self._closed = True
            await self._hand_back_ready()
            while self._tasks:
                await asyncio.gather(*self._tasks)

    async def _stream(self) -> None:
        while self._ready or self._arrivals:
            self._settle_aborted_ready()
            if self._stopping.is_set():
                await self._hand_back_ready()
            if not self._ready:
                if self._arrivals:
                    await asyncio.wait(set(self._arrivals), return_when=asyncio.FIRST_COMPLETED)
                continue
            running = self._ready.popleft()
            if not await self._run_one(running):
                return

    async def _run_one(self, running: RunningJob) -> bool:
        """Run one job and start writing its outcome; False if the run ended with it."""
        if not self.slot.alive:
            self._ready.appendleft(running)
            return False
        reply = self.slot.start_task(task_of(running))
        dispatched = time.monotonic()
        # Not while an earlier outcome of this slot is still being written: that job
        # is still running in the database, and one more would put two ahead of it.
        if self._runs_fast() and not self._ready and not self._tasks and not self._stopping.is_set():
            self._arrive(self._claim_ahead())
        wanted: set[asyncio.Future[Any]] = {reply, running.abort}
        while not (reply.done() or running.abort.done()):
            left = running.job.timeout_seconds - (time.monotonic() - dispatched)
            if left <= 0:
                break
            # Arrivals and aborts of ready jobs wake the loop too, so they are settled while this runs.
            ready_aborts = {r.abort for r in self._ready if not r.abort.done()}
            await asyncio.wait(
                {*wanted, *self._arrivals, *ready_aborts}, timeout=left, return_when=asyncio.FIRST_COMPLETED
            )
            self._settle_aborted_ready()
        self._last_run_seconds = time.monotonic() - dispatched
        self.stats.engine_seconds += self._last_run_seconds
        running.phase = "writing"
        if reply.done():
            try:
                result = reply.result()
            except ProcessDiedError:
                message = f"backtest process died (exit code {self.slot.last_exitcode})"
                await self._end(running, message, retry=True, outcome="crashed")
                return False
            self._write(running, result)
            return True
        reply.cancel()
        if running.abort.done():
            self._closed = True
            await self.slot.kill()
            await self.outcomes.aborted(running, running.abort.result())
            return False
        message = f"timeout: exceeded {running.job.timeout_seconds} s"
        await self._end(running, message, retry=False, outcome="timeout")
        return False

    def _runs_fast(self) -> bool:
        return self._last_run_seconds is not None and self._last_run_seconds < AHEAD_BELOW_SECONDS

    def _write(self, running: RunningJob, result: Reply) -> None:
        """Store the outcome, claiming the slot's next job with it when the slot would run out.

        It would when nothing is ready, or, for a slot claiming ahead, when only
        the job about to start is: the job claimed now is then ready when that
        one ends, and no separate claim is needed.
        """
        if not isinstance(result, Finished):
            self._spawn(self.outcomes.fail_reply(running, result), self._tasks)
            return
        bundle_id = running.job.bundle_id
        if bundle_id is not None:
            self.sizer.observe(bundle_id, result.run_ms / 1000)
        wants_next = not self._arrivals and len(self._ready) <= (1 if self._runs_fast() else 0)
        complete = self.outcomes.complete(running, result, frees_slot=wants_next)
        if wants_next:
            self._arrive(complete)
        else:
            self._spawn(_discard(complete), self._tasks)

    def _arrive(self, claimed: Awaitable[ClaimedJob | None]) -> None:
        self._spawn(self._admit_claimed(claimed), self._tasks, self._arrivals)

    async def _admit_claimed(self, claimed: Awaitable[ClaimedJob | None]) -> None:
        job = await claimed
        if job is None:
            return
        if self._closed or self._stopping.is_set() or not self.slot.alive:
            await self.outcomes.release_unstarted(job)
            return
        await self._admit(self._hold(job))

    async def _admit(self, running: RunningJob) -> None:
        """Make a held job ready, with the siblings claimed to join it."""
        batch = [running, *await self._claim_siblings(running)]
        self.members.extend(batch)
        self._ready.extend(batch)
        if self._closed:
            await self._hand_back_ready()

    async def _end(self, running: RunningJob, message: str, *, retry: bool, outcome: str) -> None:
        """The running job failed the run (timeout or crash): kill the process, fail the job."""
        self._closed = True
        await self.slot.kill()
        await self.outcomes.fail(running, message, retry=retry, outcome=outcome)

    def _settle_aborted_ready(self) -> None:
        """Ready jobs aborted before they started are settled without running (cancelled, lost, released)."""
        for running in [r for r in self._ready if r.abort.done()]:
            self._ready.remove(running)
            running.phase = "writing"
            self._spawn(self.outcomes.aborted(running, running.abort.result()), self._tasks)

    async def _hand_back_ready(self) -> None:
        self._settle_aborted_ready()
        while self._ready:
            running = self._ready.popleft()
            running.phase = "writing"
            await self.outcomes.hand_back(running)

    def _spawn(self, coro: Awaitable[None], *sets: set[asyncio.Task[None]]) -> None:
        task = asyncio.ensure_future(coro)
        for tracked in sets:
            tracked.add(task)
            task.add_done_callback(tracked.discard)


async def _discard(write: Awaitable[ClaimedJob | None]) -> None:
    await write
