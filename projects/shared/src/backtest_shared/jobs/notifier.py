"""The queue's notifications, sent after the changes they announce have committed.

Why not ``pg_notify`` inside the statement that changes the jobs: a transaction
that notifies takes PostgreSQL's global notify lock before it commits and holds
it until its commit record is flushed to disk, so all notifying commits of the
cluster queue behind one another's WAL flush and concurrent enqueues commit one
at a time. A notification in a statement of its own writes no WAL and costs
what ``SELECT 1`` costs.

Notifications are wake-up calls, not the source of truth: a worker also polls,
and long-polling clients re-read the job on a timer, so a notification lost to a
crash between the commit and its ``NOTIFY`` only delays them.

Concurrent requests are coalesced: while one ``NOTIFY`` statement is on its way,
later requests are merged into the next one, so a burst of enqueues wakes the
workers with one or two notifications instead of one each.

Finished and cancel notifications may also wait a few milliseconds
(``batch_delay``) to travel together: a busy worker finishes batches back to
back, and one ``NOTIFY`` round trip per batch would be a large share of its
queue time. Their listeners (long-polling clients, a worker
stopping a cancelled backtest) do not notice a delay of milliseconds.

Pending notifications are sent at once when none went out for
``pending_interval``, else when that interval has passed: under a stream of
submits one ``NOTIFY`` each would cost the API a round trip per request, while
a worker needs one wake-up, not one per job. The first job after a quiet spell
is announced without delay, so idle pickup latency does not change.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs import queue_sql

logger = logging.getLogger(__name__)

#: Ids per ``backtest_jobs_finished`` payload: 100 ids of 36 characters stay well
#: below PostgreSQL's 8,000-byte payload limit.
IDS_PER_PAYLOAD = 100


def finished_keys(rows: Iterable[Sequence[Any]]) -> list[str]:
    """Payload ids for jobs that reached a final state: each job id, then each bundle id once.

    ``rows`` are (job id, status, bundle id, ...) of jobs whose status is final.
    """
    keys: list[str] = []
    bundles: dict[uuid.UUID, None] = {}
    for row in rows:
        keys.append(str(row[0]))
        if row[2] is not None:
            bundles[row[2]] = None
    keys.extend(str(bundle) for bundle in bundles)
    return keys


class JobNotifier:
    """Sends the pending, finished and cancel notifications, coalescing concurrent requests."""

    def __init__(
        self, pool: AsyncConnectionPool[Any], *, batch_delay: float = 0.0, pending_interval: float = 0.0
    ) -> None:
        self._pool = pool
        self._batch_delay = batch_delay
        self._pending_interval = pending_interval
        self._pending = False
        self._finished: list[str] = []
        self._cancel: list[str] = []
        self._sending = False
        self._last_pending_sent = -float("inf")
        self._timer: asyncio.TimerHandle | None = None
        self._timer_due = float("inf")
        #: The timer's send task, referenced so it is not garbage-collected mid-send.
        self._delayed_send: asyncio.Task[None] | None = None

    async def notify(self, *, pending: bool = False, finished: Sequence[str] = (), cancel: Sequence[str] = ()) -> None:
        """Announce committed changes: jobs became claimable, reached a final state, or should stop.

        Returns once the notification is sent; at once when a send is already
        under way (that send's loop carries this request in its next round), or
        when the request may wait (a timer sends it): finished or cancel ids for
        up to ``batch_delay``, a pending notification until ``pending_interval``
        has passed since the last one. Errors are logged, not raised: the change
        itself has committed.
        """
        self._pending = self._pending or pending
        self._finished.extend(finished)
        self._cancel.extend(cancel)
        if not (self._pending or self._finished or self._cancel):
            return
        now = asyncio.get_running_loop().time()
        due = self._last_pending_sent + self._pending_interval if self._pending else now + self._batch_delay
        if due > now:
            self._send_at(due)
            return
        await self._send()

    async def flush(self) -> None:
        """Send whatever waits for the timer now (call before closing the pool)."""
        self._cancel_timer()
        while self._sending:  # another caller's send carries what is left
            await asyncio.sleep(0.001)
        await self._send()

    def _send_at(self, due: float) -> None:
        if self._timer is not None and self._timer_due <= due:
            return
        self._cancel_timer()
        self._timer_due = due
        self._timer = asyncio.get_running_loop().call_at(due, self._send_delayed)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_due = None, float("inf")

    def _send_delayed(self) -> None:
        self._timer, self._timer_due = None, float("inf")
        self._delayed_send = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        if self._sending:
            return
        self._sending = True
        try:
            while self._pending or self._finished or self._cancel:
                params = {
                    "pending": self._pending,
                    "finished": [
                        " ".join(self._finished[i : i + IDS_PER_PAYLOAD])
                        for i in range(0, len(self._finished), IDS_PER_PAYLOAD)
                    ],
                    "cancel": self._cancel,
                }
                if self._pending:
                    self._last_pending_sent = asyncio.get_running_loop().time()
                self._pending, self._finished, self._cancel = False, [], []
                async with self._pool.connection() as conn:
                    await conn.execute(queue_sql.NOTIFY, params)
        except (psycopg.Error, OSError) as error:
            logger.warning("queue notification not sent (pollers will catch up): %s", error)
        finally:
            self._sending = False
