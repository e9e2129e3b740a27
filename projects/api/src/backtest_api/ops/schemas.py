"""Queue statistics (queue-wide for operators, one user's own) and health answers."""

from __future__ import annotations

import msgspec


class QueueDepth(msgspec.Struct, kw_only=True):
    status: str
    priority: int
    jobs: int


class QueueStats(msgspec.Struct, kw_only=True):
    #: Jobs in the queue per status, 'pending' and 'running' (all priorities).
    by_status: dict[str, int]
    #: Jobs in the queue per status and priority.
    depth: list[QueueDepth]
    #: How long the longest-waiting claimable job has waited, in seconds: since its
    #: enqueue, or since its retry fell due (null: none waiting).
    oldest_pending_seconds: float | None
    #: Jobs that reached a final state in the last minute, and per second.
    finished_last_minute: int
    throughput_per_second: float
    #: The last minute's finished jobs per final status ('succeeded', 'failed', 'cancelled').
    finished_last_minute_by_status: dict[str, int]


class Health(msgspec.Struct, kw_only=True):
    status: str
    database: str | None = None
    migrations: str | None = None


class MyQueue(msgspec.Struct, kw_only=True):
    """Your jobs in the queue."""

    #: Your jobs waiting to run.
    pending: int
    #: Your jobs running now.
    running: int
    #: Jobs of all users that workers will claim before your next one (null: none of yours waits),
    #: counted up to ``ahead_counted_up_to``. Fair sharing and priorities can move it either way.
    jobs_ahead: int | None
    #: ``jobs_ahead`` is exact below this number and means "at least" at it.
    ahead_counted_up_to: int
