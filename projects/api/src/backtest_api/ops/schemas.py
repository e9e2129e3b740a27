"""Queue statistics and health answers."""

from __future__ import annotations

import msgspec


class QueueDepth(msgspec.Struct, kw_only=True):
    status: str
    priority: int
    jobs: int


class QueueStats(msgspec.Struct, kw_only=True):
    #: Jobs per status (all priorities).
    by_status: dict[str, int]
    #: Jobs per status and priority.
    depth: list[QueueDepth]
    #: Age of the oldest pending job, in seconds (null: none pending).
    oldest_pending_seconds: float | None
    #: Jobs that reached a final state in the last minute, and per second.
    finished_last_minute: int
    throughput_per_second: float


class Health(msgspec.Struct, kw_only=True):
    status: str
    database: str | None = None
    migrations: str | None = None
