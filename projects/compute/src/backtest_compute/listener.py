"""LISTEN for the queue's notifications on a dedicated connection, reconnecting forever.

Notifications are an optimisation (the claimer also polls and the heartbeat
also reports cancellations), so a lost connection is logged and re-opened with
backoff rather than stopping the worker. After every (re)connection the
claimer is woken, since notifications sent while we were away are lost.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from backtest_compute.dbretry import TRANSIENT_ERRORS
from backtest_compute.logs import event
from backtest_compute.sessions import open_session
from backtest_shared.jobs import queue_sql

log = logging.getLogger("backtest_compute.listener")


async def listen_forever(
    database_url: str,
    application_name: str,
    on_pending: Callable[[], None],
    on_cancel: Callable[[uuid.UUID], None],
) -> None:
    """Dispatch pending and cancel notifications until cancelled."""
    delay = 0.1
    while True:
        try:
            conn = await open_session(database_url, application_name)
            async with conn:
                await conn.execute(f"LISTEN {queue_sql.PENDING_CHANNEL}")
                await conn.execute(f"LISTEN {queue_sql.CANCEL_CHANNEL}")
                event(log, "listener.connected")
                delay = 0.1
                on_pending()
                async for notify in conn.notifies():
                    if notify.channel == queue_sql.PENDING_CHANNEL:
                        on_pending()
                    elif notify.channel == queue_sql.CANCEL_CHANNEL:
                        try:
                            on_cancel(uuid.UUID(notify.payload))
                        except ValueError:
                            event(log, "listener.bad_payload", logging.WARNING, payload=notify.payload)
        except TRANSIENT_ERRORS as exc:
            event(log, "listener.disconnected", logging.WARNING, error=str(exc).strip(), retry_in=delay)
        await asyncio.sleep(delay)
        delay = min(delay * 2, 5.0)
