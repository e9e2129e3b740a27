"""One LISTEN connection per API process: 'job finished' notifications to waiters, key revocations to auth.

Waiters subscribe to a job id or a bundle id and get an ``asyncio.Event`` that is
set when a notification names it. They must re-check state after subscribing
(a notification may have fired just before), and they wake at least every
``safety_interval`` seconds anyway, so a lost connection delays them but never
strands them.

A revoked key's hash goes to ``on_key_revoked``; after every (re)connection
``on_connected`` runs, since revocations sent while away were lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import psycopg

from backtest_api.core.auth import KEY_REVOKED_CHANNEL
from backtest_shared.db.urls import psycopg_url
from backtest_shared.jobs import queue_sql
from backtest_shared.tasks import stop_tasks

logger = logging.getLogger("backtest_api.listener")


class NotificationListener:
    safety_interval = 5.0

    def __init__(
        self,
        database_url: str,
        *,
        on_key_revoked: Callable[[str], None] = lambda key_hash: None,
        on_connected: Callable[[], None] = lambda: None,
    ) -> None:
        self._url = psycopg_url(database_url)
        self._on_key_revoked = on_key_revoked
        self._on_connected = on_connected
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="notification-listener")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await self.connected.wait()

    async def stop(self) -> None:
        if self._task is not None:
            await stop_tasks([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                conn: Any = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                async with conn:
                    await conn.execute(f"LISTEN {queue_sql.FINISHED_CHANNEL}")
                    await conn.execute(f"LISTEN {KEY_REVOKED_CHANNEL}")
                    self._on_connected()
                    self.connected.set()
                    async for notify in conn.notifies():
                        if notify.channel == KEY_REVOKED_CHANNEL:
                            self._on_key_revoked(notify.payload)
                        else:
                            self._dispatch(notify.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away: wake everyone, retry
                logger.warning("notification listener lost its connection: %s", exc)
            self.connected.clear()
            self._wake_all()
            await asyncio.sleep(1.0)

    def _dispatch(self, payload: str) -> None:
        for key in payload.split():
            for event in self._waiters.get(key, ()):
                event.set()

    def _wake_all(self) -> None:
        for events in self._waiters.values():
            for event in events:
                event.set()

    @contextlib.contextmanager
    def subscribe(self, key: uuid.UUID) -> Iterator[asyncio.Event]:
        name = str(key)
        event = asyncio.Event()
        self._waiters.setdefault(name, set()).add(event)
        try:
            yield event
        finally:
            waiters = self._waiters.get(name)
            if waiters is not None:
                waiters.discard(event)
                if not waiters:
                    del self._waiters[name]

    async def wait(self, event: asyncio.Event, timeout: float) -> None:
        """Wait for ``event`` (then clear it) or ``timeout``, whichever is first, capped by the safety interval."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, min(timeout, self.safety_interval))):
                await event.wait()
        event.clear()
