"""A slot's run: one claimed job, or a batch of children of one bundle claimed to run with it.

A sweep is many children of one bundle on one dataset. Run one by one, each
would pay a round trip to be claimed and its own indicators; run as a batch,
one backtest process loads the data once and computes each distinct indicator
once (``child.IndicatorCache``), as the engine's own sweep does.

Each job of a batch stays a job: its own lease, fenced writes, progress,
cancel and result. The process answers each task as soon as it is done, and
its outcome is written at once (completions of several slots share one
statement), so a batch changes when a job runs, not what is stored for it.

What ends a batch early:

* its running job exceeds its own timeout, or its process dies: that job fails
  as a single job would, and the jobs not yet started go back to the queue
  untouched (their attempt is not counted);
* every job still waiting in it is aborted (cancelled, lease lost, stopping
  now): the process is killed and each is settled by its reason. A job aborted
  while others still run just finishes; its fenced write then settles it (a
  requested cancel wins, a lost lease writes nothing).
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from collections.abc import Sequence
from typing import Any

from backtest_compute.outcomes import OutcomeWriter
from backtest_compute.processes import ProcessDiedError
from backtest_compute.processes import Reply
from backtest_compute.processes import TaskSpec
from backtest_compute.protocol import Failed
from backtest_compute.protocol import Finished
from backtest_compute.running import RunningJob
from backtest_compute.running import WorkerStats
from backtest_shared.jobs.models import ClaimedJob

#: Batch size for a bundle not measured yet: small, so a slow sweep's first
#: batch stays short, and large enough to measure a fast one.
FIRST_BATCH = 4
#: Bundles whose speed the sizer remembers (least recently used go first).
REMEMBERED_BUNDLES = 1024


class BatchSizer:
    """How many children of a bundle one slot runs together.

    A batch is sized to run for about ``target_seconds``: the bundle's seconds
    per child, measured on its earlier batches here, divide the target; the
    result is kept between 1 and ``most``. So a fast sweep runs in batches of
    ``most`` and a slow one (long series, many indicators) in batches of a few,
    and no batch holds waiting jobs of its owner for long while other slots
    could take them. ``most`` = 1 turns batching off.
    """

    def __init__(self, most: int, target_seconds: float) -> None:
        self.most = most
        self.target_seconds = target_seconds
        self._seconds_per_child: collections.OrderedDict[uuid.UUID, float] = collections.OrderedDict()

    def size(self, job: ClaimedJob) -> int:
        """The batch size for ``job`` (itself included)."""
        if job.bundle_id is None or self.most <= 1:
            return 1
        per_child = self._seconds_per_child.get(job.bundle_id)
        if per_child is None:
            return min(self.most, FIRST_BATCH)
        self._seconds_per_child.move_to_end(job.bundle_id)
        return max(1, min(self.most, int(self.target_seconds / max(per_child, 1e-6))))

    def observe(self, bundle_id: uuid.UUID, seconds_per_child: float) -> None:
        self._seconds_per_child[bundle_id] = seconds_per_child
        self._seconds_per_child.move_to_end(bundle_id)
        while len(self._seconds_per_child) > REMEMBERED_BUNDLES:
            self._seconds_per_child.popitem(last=False)


def task_of(running: RunningJob) -> TaskSpec:
    """What the backtest process runs for a job; a bundle's children store the summary form."""
    job = running.job
    return TaskSpec(str(job.id), str(job.dataset_id), job.config_json, summary=job.bundle_id is not None)


async def run_on_slot(
    batch: Sequence[RunningJob], outcomes: OutcomeWriter, stats: WorkerStats, sizer: BatchSizer
) -> ClaimedJob | None:
    """Run the jobs of ``batch`` (all on one slot) in order and write each outcome.

    Returns the job claimed for the slot by the last completion, if any.
    """
    slot = batch[0].slot
    replies = slot.run_batch([task_of(running) for running in batch])
    waiting = collections.deque(zip(batch, replies, strict=True))
    writes: list[asyncio.Task[ClaimedJob | None]] = []
    run_ms: list[float] = []
    dispatched = head_since = time.monotonic()
    try:
        while waiting:
            running, reply = waiting[0]
            aborts: set[asyncio.Future[Any]] = {r.abort for r, _ in waiting if not r.abort.done()}
            if not aborts:
                await slot.kill()
                for aborted, _ in waiting:
                    aborted.phase = "writing"
                    await outcomes.aborted(aborted, aborted.abort.result())
                return None
            left = running.job.timeout_seconds - (time.monotonic() - head_since)
            await asyncio.wait({reply, *aborts}, timeout=max(left, 0.0), return_when=asyncio.FIRST_COMPLETED)
            if reply.done():
                waiting.popleft()
                head_since = time.monotonic()
                running.phase = "writing"
                try:
                    result = reply.result()
                except ProcessDiedError:
                    await slot.kill()
                    message = f"backtest process died (exit code {slot.last_exitcode})"
                    await outcomes.fail(running, message, retry=True, outcome="crashed")
                    await _hand_back(waiting, outcomes)
                    return None
                if isinstance(result, Finished):
                    run_ms.append(result.run_ms)
                    complete = outcomes.complete(running, result, frees_slot=not waiting)
                    writes.append(asyncio.ensure_future(complete))
                else:
                    writes.append(asyncio.ensure_future(_fail_reply(outcomes, running, result)))
            elif time.monotonic() - head_since >= running.job.timeout_seconds:
                await slot.kill()
                running.phase = "writing"
                waiting.popleft()
                message = f"timeout: exceeded {running.job.timeout_seconds} s"
                await outcomes.fail(running, message, retry=False, outcome="timeout")
                await _hand_back(waiting, outcomes)
                return None
            # Otherwise a job still waiting was aborted: see the loop's first check.
    finally:
        stats.engine_seconds += time.monotonic() - dispatched
        for reply in replies:
            if reply.done() and not reply.cancelled():
                reply.exception()  # retrieved: a killed batch fails the replies nobody awaits
        handoffs = await asyncio.gather(*writes)
        bundle_id = batch[0].job.bundle_id
        if bundle_id is not None and run_ms:
            sizer.observe(bundle_id, sum(run_ms) / len(run_ms) / 1000)
    return handoffs[-1] if handoffs else None


async def _fail_reply(outcomes: OutcomeWriter, running: RunningJob, reply: Failed) -> ClaimedJob | None:
    """Write a failed run; nothing is claimed with it (the claim loop serves the freed slot)."""
    await outcomes.fail_reply(running, reply)
    return None


async def _hand_back(
    waiting: collections.deque[tuple[RunningJob, asyncio.Future[Reply]]], outcomes: OutcomeWriter
) -> None:
    """The jobs of a batch that never started go back to the queue as they were."""
    while waiting:
        running, _ = waiting.popleft()
        running.phase = "writing"
        await outcomes.hand_back(running)
