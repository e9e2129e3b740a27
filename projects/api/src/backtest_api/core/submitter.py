"""Single submits that arrive together reach the database together.

While one statement is in flight, the submits arriving meanwhile wait and go
out as the next statement (``backtest_shared.batching``): a lone submit is sent
at once, a burst costs one round trip and one statement. The database spends as
much on one single-job statement as on eight jobs enqueued together, so under
load this is the difference between the database keeping up or not.
"""

from __future__ import annotations

from collections.abc import Sequence

import psycopg

from backtest_shared.batching import Batcher
from backtest_shared.jobs.models import SingleSubmit
from backtest_shared.jobs.models import SubmitOutcome
from backtest_shared.jobs.repository import JobQueue

#: Upper bound on submits per statement.
MAX_BATCH = 64

_Result = SubmitOutcome | psycopg.errors.ForeignKeyViolation


class Submitter:
    """``await submit(job)``: the job's outcome; raises what enqueuing it alone would have raised."""

    def __init__(self, queue: JobQueue, max_batch: int = MAX_BATCH) -> None:
        self._queue = queue
        self._batcher: Batcher[SingleSubmit, _Result] = Batcher(self._flush, max_batch)

    async def submit(self, job: SingleSubmit) -> SubmitOutcome:
        result = await self._batcher.submit(job)
        if isinstance(result, Exception):
            raise result
        return result

    async def _flush(self, batch: Sequence[SingleSubmit]) -> list[_Result]:
        try:
            return list(await self._queue.enqueue_each(batch))
        except psycopg.errors.ForeignKeyViolation as exc:
            if len(batch) == 1:
                return [exc]
        # A dataset deleted meanwhile fails the whole statement: enqueue one by one,
        # so that only the submits naming it fail.
        results: list[_Result] = []
        for job in batch:
            try:
                results.extend(await self._queue.enqueue_each([job]))
            except psycopg.errors.ForeignKeyViolation as exc:
                results.append(exc)
        return results
