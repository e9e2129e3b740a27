"""The reaper: exactly one active across all workers, chosen by a session advisory lock.

Every worker runs this loop, but only the one whose dedicated connection holds
``pg_try_advisory_lock(REAPER_LOCK_KEY)`` reaps. The lock belongs to the
session, so if that worker or its connection dies the server releases it and
another worker's next attempt takes over. It also prunes the finish log that
queue statistics read (15 minutes are kept) and, when a retention age is set,
deletes one bounded batch of old finished jobs per pass (``retention``): while
a backlog lasts every pass takes a batch; once a batch comes back short, the
next is tried only after ``RETENTION_IDLE_SECONDS``. A non-transient database
error never ends the loop (see ``health``): it backs off and tries again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg

from backtest_compute.dbretry import TRANSIENT_ERRORS
from backtest_compute.health import WorkerHealth
from backtest_compute.logs import event
from backtest_compute.sessions import open_session
from backtest_shared.jobs import queue_sql
from backtest_shared.jobs.repository import JobQueue
from backtest_shared.jobs.retention import DEFAULT_BATCH
from backtest_shared.jobs.retention import prune_batch

log = logging.getLogger("backtest_compute.reaper")

#: A round trip on the lock's own session proves it (and so the lock) is still alive.
_PING = "SELECT 1"

#: Seconds between pruning attempts once nothing old is left: each attempt
#: scans every owner's oldest jobs, which is cheap but not free.
RETENTION_IDLE_SECONDS = 600.0


class Reaper:
    def __init__(
        self,
        queue: JobQueue,
        database_url: str,
        application_name: str,
        interval: float,
        health: WorkerHealth | None = None,
        *,
        retention_seconds: float = 0.0,
        retention_batch: int = DEFAULT_BATCH,
    ) -> None:
        self._queue = queue
        self._health = health or WorkerHealth()
        self._url = database_url
        self._application_name = application_name
        self._interval = interval
        self._conn: psycopg.AsyncConnection[tuple[Any, ...]] | None = None
        self.holding = False
        #: 0 keeps finished jobs forever.
        self._retention_seconds = retention_seconds
        self._retention_batch = retention_batch
        #: Event-loop time before which no pruning is tried (a short batch pushes it on).
        self._prune_after = 0.0

    async def run(self) -> None:
        """Try for the lock and reap while holding it, until cancelled."""
        try:
            while True:
                try:
                    await self._tick()
                except TRANSIENT_ERRORS as exc:
                    if self.holding:
                        event(log, "reaper.lost_lock", logging.WARNING, error=str(exc).strip())
                    await self._close()
                except psycopg.DatabaseError as exc:
                    # Bad data, not a lost connection: the claimer and the running
                    # jobs carry on; this loop retries after a backoff.
                    await asyncio.sleep(self._health.failed("reaper", "REAP_EXPIRED", exc))
                else:
                    if self.holding:
                        self._health.succeeded("reaper")
                await asyncio.sleep(self._interval)
        finally:
            await self._close()

    async def _tick(self) -> None:
        if self._conn is None or self._conn.closed:
            self.holding = False
            self._conn = await open_session(self._url, self._application_name)
        if not self.holding:
            cur = await self._conn.execute(queue_sql.TRY_REAPER_LOCK, {"key": queue_sql.REAPER_LOCK_KEY})
            row = await cur.fetchone()
            self.holding = bool(row and row[0])
            if not self.holding:
                return
            event(log, "reaper.acquired_lock")
        else:
            await self._conn.execute(_PING)
        reaped = await self._queue.reap_expired()
        for job_id, status in reaped.items():
            event(log, "job.reaped", job_id=job_id, status=status)
        await self._queue.prune_finish_log()
        await self._prune_retention(self._conn)

    async def _prune_retention(self, conn: psycopg.AsyncConnection[tuple[Any, ...]]) -> None:
        """One bounded batch of old finished jobs, on the lock's own autocommit session."""
        now = asyncio.get_running_loop().time()
        if self._retention_seconds <= 0 or now < self._prune_after:
            return
        pruned = await prune_batch(conn, self._retention_seconds, self._retention_batch)
        if pruned.jobs or pruned.bundles:
            event(log, "retention.pruned", jobs=pruned.jobs, bundles=pruned.bundles)
        if pruned.short_of(self._retention_batch):
            self._prune_after = now + RETENTION_IDLE_SECONDS

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        self.holding = False
        if conn is not None:
            try:
                await conn.close()
            except Exception:
                pass
