"""What every part of ``JobQueue`` shares: the pool, the settings and the notifier.

All SQL lives in ``queue_sql``; the queue's modules only bind parameters and
shape rows. Connections come from a psycopg async pool in autocommit mode, so
each statement is its own transaction and holds no lock beyond its own duration.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec
from psycopg_pool import AsyncConnectionPool

from backtest_shared.jobs.notifier import JobNotifier

_json_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class QueueSettings:
    """Timing of leases and retries; see README, 'Configuration'."""

    lease_seconds: float = 30.0
    retry_backoff_base_seconds: float = 2.0
    retry_backoff_cap_seconds: float = 300.0
    #: How long finished and cancel notifications may wait to travel together
    #: (see ``notifier``); 0 sends each at once. A queue with a delay must call
    #: ``flush_notifications`` before its pool closes.
    notify_batch_delay_seconds: float = 0.0
    #: Minimum time between two pending notifications (the first after a quiet
    #: spell goes at once); same duty to flush.
    notify_pending_interval_seconds: float = 0.0


def json_text(value: Any) -> str:
    """``value`` as JSON text, the form the statements take for jsonb parameters."""
    return _json_encoder.encode(value).decode()


class QueueCore:
    """The state the queue's method groups (``submissions``, ``leases``, ``reads``) build on."""

    def __init__(self, pool: AsyncConnectionPool[Any], settings: QueueSettings | None = None) -> None:
        self._pool = pool
        self.settings = settings or QueueSettings()
        self._notifier = JobNotifier(
            pool,
            batch_delay=self.settings.notify_batch_delay_seconds,
            pending_interval=self.settings.notify_pending_interval_seconds,
        )

    def _backoff(self) -> dict[str, float]:
        return {
            "backoff_base": self.settings.retry_backoff_base_seconds,
            "backoff_cap": self.settings.retry_backoff_cap_seconds,
        }

    async def _fetchall(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        async with self._pool.connection() as conn:
            cur = await conn.execute(sql, params)
            rows: list[tuple[Any, ...]] = await cur.fetchall()
            return rows

    async def flush_notifications(self) -> None:
        """Send notifications still waiting to be batched; call before closing the pool."""
        await self._notifier.flush()
